import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';

/**
 * Chooses the test database once per run:
 *  - DATABASE_URL set → a fresh database `tollgate_test_<stamp>` on that server, dropped after the run;
 *  - else a Docker engine answers → a throwaway Postgres container (testcontainers);
 *  - else embedded PGlite (each test opens its own in-memory instance).
 * Workers read the choice from TOLLGATE_TEST_DATABASE_URL (unset means PGlite).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // One mesh secret key per run: meshes sharing the run's database must also share the key that
  // seals what they store (signing keys), as the replicas of a real mesh do.
  process.env.TOLLGATE_TEST_SECRET_KEY = randomBytes(32).toString('base64');
  const base = process.env.DATABASE_URL;
  if (base) return createFreshDatabase(base, project);
  const container = await startContainerIfDocker();
  if (container) {
    process.env.TOLLGATE_TEST_DATABASE_URL = container.url;
    project.provide('databaseKind', 'postgres (testcontainers)');
    return container.stop;
  }
  delete process.env.TOLLGATE_TEST_DATABASE_URL;
  project.provide('databaseKind', 'pglite');
  return async () => {};
}

async function createFreshDatabase(base: string, project: TestProject): Promise<() => Promise<void>> {
  const name = `tollgate_test_${Date.now().toString(36)}_${process.pid}`;
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  process.env.TOLLGATE_TEST_DATABASE_URL = url.toString();
  project.provide('databaseKind', 'postgres');
  return async () => {
    const cleanup = postgres(base, { max: 1, onnotice: () => {} });
    try {
      await cleanup.unsafe(`drop database if exists "${name}" with (force)`);
    } finally {
      await cleanup.end({ timeout: 5 });
    }
  };
}

async function startContainerIfDocker(): Promise<{ url: string; stop: () => Promise<void> } | undefined> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([getContainerRuntimeClient(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 3_000))]);
  } catch {
    return undefined;
  }
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('postgres:17-alpine')
    .withEnvironment({ POSTGRES_PASSWORD: 'tollgate', POSTGRES_DB: 'tollgate' })
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  const url = `postgres://postgres:tollgate@${container.getHost()}:${container.getMappedPort(5432)}/tollgate`;
  return { url, stop: async () => void (await container.stop()) };
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseKind: string;
  }
}
