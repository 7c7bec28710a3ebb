import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import * as client from 'openid-client';
import { startTestMesh, type TestMesh } from '../test/harness/mesh.ts';

const cli = new URL('../bin/tollgate.js', import.meta.url).pathname;

describe('tollgate client (OAuth clients) against a running mesh', () => {
  let mesh: TestMesh;
  let env: Record<string, string>;
  let issuer: string;

  function tollgate(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [cli, ...args], { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(stdin);
    });
  }
  const json = async (args: string[], stdin = '') => {
    const r = await tollgate([...args, '--json'], stdin);
    if (r.code !== 0) throw new Error(`${args.join(' ')} → ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  const grant = async (clientId: string, secret: string) =>
    client.clientCredentialsGrant(await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(secret), { execute: [client.allowInsecureRequests] }));

  beforeAll(async () => {
    mesh = await startTestMesh();
    const tenant = await mesh.createTenant('cli-oauth');
    issuer = mesh.services.find((s) => s.name === 'identity')!.httpAddress!;
    env = { PATH: process.env.PATH ?? '', TOLLGATE_IDENTITY_URL: mesh.address('identity'), TOLLGATE_AUTHZ_URL: mesh.address('authz'), TOLLGATE_TOKEN: tenant.masterToken, TOLLGATE_DATA_DIR: mesh.dataDir };
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  it('creates a web client with its redirect URIs and prints the secret once', async () => {
    const created = await json(['client', 'create', 'Portal', '--type', 'web', '--redirect-uri', 'https://portal.example.com/cb', '--redirect-uri', 'http://localhost:3000/cb']);
    expect(created).toMatchObject({ client_id: expect.stringMatching(/^cli_/), type: 'web', confidential: true, redirect_uris: ['https://portal.example.com/cb', 'http://localhost:3000/cb'], client_secret: expect.stringMatching(/^tgcs_/) });
    const shown = await json(['client', 'show', created.client_id as string]);
    expect(shown).not.toHaveProperty('client_secret');
    const listed = await json(['client', 'list']);
    expect((listed.clients as { id: string }[]).map((c) => c.id)).toContain(created.client_id);
    const spa = await json(['client', 'create', 'Dashboard', '--type', 'spa', '--redirect-uri', 'https://dash.example.com/cb']);
    expect(spa).toMatchObject({ confidential: false });
    expect(spa).not.toHaveProperty('client_secret');
  });

  it('rotates a service client secret (the old one stops at once), disables and deletes it', async () => {
    const created = await json(['client', 'create', 'Ingest', '--type', 'service']);
    await expect(grant(created.client_id as string, created.client_secret as string)).resolves.toMatchObject({ token_type: 'bearer' });
    const rotated = await json(['client', 'rotate-secret', created.client_id as string]);
    expect(rotated.client_secret).not.toBe(created.client_secret);
    await expect(grant(created.client_id as string, created.client_secret as string)).rejects.toMatchObject({ status: 401 });
    await expect(grant(created.client_id as string, rotated.client_secret as string)).resolves.toMatchObject({ token_type: 'bearer' });
    const disabled = await json(['client', 'update', created.client_id as string, '--disable', '--name', 'Ingest (off)']);
    expect(disabled).toMatchObject({ disabled: true, name: 'Ingest (off)' });
    await expect(grant(created.client_id as string, rotated.client_secret as string)).rejects.toMatchObject({ status: 401 });
    await json(['client', 'delete', created.client_id as string]);
    const gone = await tollgate(['client', 'show', created.client_id as string, '--json']);
    expect(gone.code).toBe(1);
    expect(JSON.parse(gone.stdout)).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('binds a service client to acl rules from stdin and rebinds them', async () => {
    const rules = JSON.stringify([{ effect: 'allow', actions: ['publish'], resources: ['mqtt:sensors/${client_id}/#'] }]);
    const created = await json(['client', 'create', 'Sensors', '--type', 'service', '--rules', '-'], rules);
    expect(created).toMatchObject({ acl_rules: [{ effect: 'allow', actions: ['publish'], resources: ['mqtt:sensors/${client_id}/#'] }], acl_token_id: expect.stringMatching(/^tok_/) });
    const narrowed = await json(['client', 'update', created.client_id as string, '--rules', '-'], JSON.stringify([{ effect: 'allow', actions: ['subscribe'], resources: ['mqtt:sensors/#'] }]));
    expect(narrowed).toMatchObject({ acl_rules: [{ actions: ['subscribe'] }], acl_token_id: created.acl_token_id });
  });

  it('registers an upstream OIDC provider for SSO (secret on stdin), lists and deletes it', async () => {
    const created = await json(['sso', 'create', 'Corp', '--issuer', 'https://idp.example.com', '--client-id', 'tollgate', '--role', 'viewer'], 'upstream-secret\n');
    expect(created).toMatchObject({ id: expect.stringMatching(/^sso_/), name: 'Corp', default_role: 'viewer', redirect_uri: `${issuer}/oauth/sso/callback` });
    expect(JSON.stringify(created)).not.toContain('upstream-secret');
    expect(((await json(['sso', 'list'])).connections as { id: string }[]).map((c) => c.id)).toEqual([created.id]);
    await json(['sso', 'delete', created.id as string]);
    expect((await json(['sso', 'list'])).connections).toEqual([]);
    const cert = new URL('../services/identity/test/fixtures/saml-idp.crt', import.meta.url).pathname;
    const saml = await json(['sso', 'create', 'CorpSAML', '--kind', 'saml', '--issuer', 'https://idp.corp.example/saml', '--entry-point', 'https://idp.corp.example/sso', '--idp-cert', cert]);
    expect(saml).toMatchObject({ kind: 'saml', acs_url: `${issuer}/oauth/sso/saml/acs`, sp_entity_id: `${issuer}/oauth/sso/saml/${saml.id as string}` });
  });

  it('refuses bad input with one line and a non-zero exit', async () => {
    const noType = await tollgate(['client', 'create', 'X']);
    expect(noType.code).toBe(2);
    const wildcard = await tollgate(['client', 'create', 'X', '--type', 'web', '--redirect-uri', 'https://*.example.com/cb', '--json']);
    expect(wildcard.code).toBe(1);
    expect(JSON.parse(wildcard.stdout)).toMatchObject({ error: { code: 'INVALID_ARGUMENT', message: expect.stringContaining('redirect_uris[0]') } });
    expect(wildcard.stderr.trim().split('\n')).toHaveLength(1);
  });
});
