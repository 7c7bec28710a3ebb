import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt, { type MqttClient } from 'mqtt';
import postgres from 'postgres';
import { checkHealth, createRpcClient } from '#libs/rpc/index.ts';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { LimitKind, Period, QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { createScratchDatabase } from '../harness/database.ts';
import { startNatsNode, type NatsNode } from '../harness/nats-node.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../harness/otlp-receiver.ts';
import { freeListenPort, freePort } from '../harness/ports.ts';

const cli = new URL('../../bin/tollgate.js', import.meta.url).pathname;
const onPostgres = !!process.env.TOLLGATE_TEST_DATABASE_URL;

/** Runs the real CLI as an OS process with exactly `env` (and PATH). */
function tollgate(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}


interface Summary {
  services: { name: string; grpc: string; http: string | null }[];
  console: string | null;
  mqtt: { tcp?: string } | null;
  database: string | null;
}

/** `tollgate start --service NAME --json` as its own OS process; resolves with its start summary. */
function startService(name: string, env: Record<string, string>): Promise<{ child: ChildProcess; summary: Summary; stderr: () => string }> {
  const child = spawn(process.execPath, [cli, 'start', '--service', name, '--json'], { env: { PATH: process.env.PATH ?? '', ...env } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    // The summary is the line with `services`; a log line (JSON too) may come first on a busy
    // machine — a warning that a peer is not up yet — and is not the summary.
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let parsed: Partial<Summary> | undefined;
      try {
        parsed = JSON.parse(line) as Partial<Summary>;
      } catch {
        return;
      }
      if (!Array.isArray(parsed?.services)) return;
      lines.removeAllListeners('line');
      resolve({ child, summary: parsed as Summary, stderr: () => stderr });
    });
    child.once('exit', (code) => reject(new Error(`${name} exited ${code}: ${stderr}`)));
  });
}

/** The HTTP base of a started process: its service's port, or the console's. */
const httpOf = (s: { summary: Summary }) => s.summary.services[0]?.http ?? s.summary.console!;
/** The service a started process runs (the console's summary lists no gRPC service). */
const serviceOf = (s: { summary: Summary }) => s.summary.services[0]?.name ?? 'console';

/** Polls `probe` until it returns a value (not undefined), for at most `ms`; `what` names it in the error. */
async function eventually<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms: number): Promise<T> {
  for (const until = Date.now() + ms; ; await new Promise((resolve) => setTimeout(resolve, 100))) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`${what}: not within ${ms / 1_000} s`);
  }
}

/** `promise`, or a failure naming `what` after 10 s: an MQTT answer that never comes fails the test, saying which. */
function within<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within 10 s`)), 10_000)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls GET /readyz (what a Kubernetes readiness probe does) until 200, for at most 30 s. */
async function untilReady(base: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${base}/readyz`).catch(() => undefined);
    if (res?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${base}/readyz: not ready within 30 s (${res?.status}: ${await res?.text()})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('tollgate bootstrap and start --service: usage errors', () => {
  it('answers an unreachable database with one line and exit 1', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tg-'));
    try {
      const res = await tollgate(['bootstrap'], {
        DATABASE_URL: 'postgres://tollgate@127.0.0.1:1/nowhere',
        TOLLGATE_ENV: 'production',
        TOLLGATE_SECRET_KEY: randomBytes(32).toString('base64'),
        TOLLGATE_DATA_DIR: dataDir,
      });
      expect(res.code).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr).toBe('tollgate: database unreachable at 127.0.0.1:1/nowhere (ECONNREFUSED)\n');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses to start a quota replica that cannot find itself in TOLLGATE_QUOTA_REPLICAS (one line, exit 1)', async () => {
    const res = await tollgate(['start', '--service', 'quota'], { HOSTNAME: 'quota-2', TOLLGATE_QUOTA_REPLICAS: 'quota-{0..1}.quota-headless:7301', DATABASE_URL: 'postgres://tollgate@127.0.0.1:1/nowhere' });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(
      'tollgate: TOLLGATE_QUOTA_REPLICAS: this host (quota-2) is not in the list quota-0.quota-headless:7301,quota-1.quota-headless:7301 (an entry\'s first DNS label must be the host name, e.g. quota-2.quota-headless:7301; or set TOLLGATE_QUOTA_REPLICA_INDEX)\n',
    );
  });

  it('refuses an unknown --service with a usage error (exit 2)', async () => {
    const res = await tollgate(['start', '--service', 'gateway'], {});
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('tollgate: --service: expected one of identity, authz, quota, broker, console\n');
  });
});

describe.runIf(onPostgres)('production shape: an empty Postgres, `tollgate bootstrap`, every service its own process (runs on Postgres)', () => {
  let scratch: NonNullable<Awaited<ReturnType<typeof createScratchDatabase>>>;
  let dataDir: string;
  const secretKey = randomBytes(32).toString('base64');
  const running: ChildProcess[] = [];
  const clients: MqttClient[] = [];
  /** The replicated mesh of the third test, left running for the Prometheus test and stopped by the last. */
  const replicated = { alive: [] as { child: ChildProcess; summary: Summary }[], scrape: [] as { service: string; http: string }[], connectsAccepted: 0, connectsRefused: 0 };
  /** The replicated mesh's NATS (the edges' cluster) and the OTLP collector every process exports its spans to. */
  let nats: NatsNode | undefined;
  let otlp: OtlpReceiver | undefined;

  beforeAll(async () => {
    scratch = (await createScratchDatabase())!;
    dataDir = mkdtempSync(join(tmpdir(), 'tg-prod-'));
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    for (const child of running) child.kill('SIGKILL');
    await nats?.destroy();
    await otlp?.close();
    await scratch?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  // TOLLGATE_BROKER_AUTHZ_DEADLINE: the edges' first CONNECTs meet freshly started processes on a
  // shared 2-core machine; 200 ms (production's default) would turn a busy moment into 0x88.
  // TOLLGATE_BROKER_QUOTA_DEADLINE likewise: a lease that misses 500 ms fails open (the default
  // policy) and the rate-limit step would count a busy moment as a leak.
  const baseEnv = () => ({ TOLLGATE_ENV: 'production', TOLLGATE_SECRET_KEY: secretKey, TOLLGATE_DATA_DIR: dataDir, TOLLGATE_LOG_LEVEL: 'warn', TOLLGATE_ARGON2_MEMORY_KIB: '1024', TOLLGATE_ARGON2_ITERATIONS: '1', TOLLGATE_BROKER_AUTHZ_DEADLINE: '2s', TOLLGATE_BROKER_QUOTA_DEADLINE: '2s' });

  it('bootstraps once (credentials in a 0600 file), and a second run changes nothing', { timeout: 90_000 }, async () => {
    const file = join(dataDir, 'root-credentials.json');
    const first = await tollgate(['bootstrap', '--out', file, '--json'], { ...baseEnv(), DATABASE_URL: scratch.url });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout) as { created: boolean; account_id: string; username: string; file: string; migrations_applied: string[] };
    expect(report).toMatchObject({ created: true, username: 'admin', file });
    expect(report.migrations_applied.some((m) => m.startsWith('identity/')) && report.migrations_applied.some((m) => m.startsWith('quota/'))).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const credentials = JSON.parse(readFileSync(file, 'utf8')) as { account_id: string; username: string; password: string; master_token: string };
    expect(credentials.account_id).toBe(report.account_id);
    expect(credentials.master_token).toMatch(/^tg_/);
    // Secrets go to the file only, never to stdout.
    expect(first.stdout).not.toContain(credentials.master_token);
    expect(first.stdout).not.toContain(credentials.password);

    const second = await tollgate(['bootstrap'], { ...baseEnv(), DATABASE_URL: scratch.url });
    expect(second.code).toBe(0);
    expect(second.stdout).toBe('already bootstrapped: the database has accounts; nothing changed\n');
    const again = await tollgate(['bootstrap', '--json'], { ...baseEnv(), DATABASE_URL: scratch.url });
    expect(JSON.parse(again.stdout)).toEqual({ created: false, migrations_applied: [] });
    const sql = postgres(scratch.url, { max: 1, onnotice: () => {} });
    try {
      const [accounts] = await sql`select count(*)::int as n from identity.accounts`;
      const [tokens] = await sql`select count(*)::int as n from authz.tokens`;
      expect([accounts!.n, tokens!.n]).toEqual([1, 1]);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('runs identity, authz, quota, broker (no DATABASE_URL) and console as separate processes; the bootstrap token works end to end', { timeout: 120_000 }, async () => {
    const credentials = JSON.parse(readFileSync(join(dataDir, 'root-credentials.json'), 'utf8')) as { account_id: string; master_token: string };
    const grpc = { identity: await freeListenPort(), authz: await freeListenPort(), quota: await freeListenPort(), broker: await freeListenPort() };
    const peers = {
      TOLLGATE_IDENTITY_URL: `127.0.0.1:${grpc.identity}`,
      TOLLGATE_AUTHZ_URL: `127.0.0.1:${grpc.authz}`,
      TOLLGATE_QUOTA_URL: `127.0.0.1:${grpc.quota}`,
      TOLLGATE_BROKER_URL: `127.0.0.1:${grpc.broker}`,
    };
    const ports = {
      TOLLGATE_IDENTITY_GRPC_PORT: String(grpc.identity),
      TOLLGATE_AUTHZ_GRPC_PORT: String(grpc.authz),
      TOLLGATE_QUOTA_GRPC_PORT: String(grpc.quota),
      TOLLGATE_BROKER_GRPC_PORT: String(grpc.broker),
      TOLLGATE_IDENTITY_HTTP_PORT: '0',
      TOLLGATE_AUTHZ_HTTP_PORT: '0',
      TOLLGATE_QUOTA_HTTP_PORT: '0',
      TOLLGATE_BROKER_HTTP_PORT: '0',
      TOLLGATE_CONSOLE_HTTP_PORT: '0',
      TOLLGATE_MQTT_PORT: '0',
      TOLLGATE_MQTT_WS_PORT: '0',
    };
    const env = (withDatabase: boolean) => ({ ...baseEnv(), ...peers, ...ports, ...(withDatabase ? { DATABASE_URL: scratch.url } : {}) });
    const started = await Promise.all([
      startService('identity', env(true)),
      startService('authz', env(true)),
      startService('quota', env(true)),
      startService('broker', env(false)),
      startService('console', env(false)),
    ]);
    running.push(...started.map((s) => s.child));
    const [identity, authzProc, quota, broker, consoleProc] = started;
    expect(broker!.summary.database).toBeNull();
    expect(consoleProc!.summary.services).toEqual([]);
    const http = { identity: identity!.summary.services[0]!.http!, authz: authzProc!.summary.services[0]!.http!, quota: quota!.summary.services[0]!.http!, broker: broker!.summary.services[0]!.http!, console: consoleProc!.summary.console! };
    // Started in any order, as an orchestrator does: each becomes ready once its peers answer.
    await Promise.all(Object.values(http).map((base) => untilReady(base)));

    // The bootstrap master token, against authz running alone: it manages tokens in its account.
    const authz = createRpcClient(AuthzService, peers.TOLLGATE_AUTHZ_URL);
    // The test's own new channel to authz: wait for it to be SERVING over gRPC too (a loaded
    // machine may still be setting the connection up when HTTP readiness answers).
    for (const until = Date.now() + 15_000; (await checkHealth(peers.TOLLGATE_AUTHZ_URL)).status !== 'SERVING'; ) {
      if (Date.now() > until) throw new Error('authz gRPC never answered SERVING');
    }
    const device = await authz.createToken(
      { accountId: credentials.account_id, name: 'fleet', kind: TokenKind.ACL, rules: [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] }] },
      { headers: { authorization: `Bearer ${credentials.master_token}` } },
    );
    authz.close();

    // That acl token through a real MQTT client on the broker edge, which asks authz and quota over gRPC.
    const client = await new Promise<MqttClient>((resolve, reject) => {
      const c = mqtt.connect(`mqtt://${broker!.summary.mqtt!.tcp}`, { protocolVersion: 5, clientId: 'c1', username: device.secret, reconnectPeriod: 0, connectTimeout: 10_000 });
      clients.push(c);
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    });
    await client.subscribeAsync('devices/c1/#', { qos: 1 });
    const got = new Promise<string>((resolve) => client.once('message', (topic, payload) => resolve(`${topic}=${payload.toString()}`)));
    await client.publishAsync('devices/c1/temp', '21.5', { qos: 1 });
    expect(await got).toBe('devices/c1/temp=21.5');
    const refused = await client.publishAsync('devices/c2/temp', 'x', { qos: 1 }).then((p) => p, (e: { code?: number }) => e);
    expect(refused).toMatchObject({ code: 0x87 });

    // Every HTTP port: ready (database and peers reachable), and its own metrics.
    for (const [name, base] of Object.entries(http)) {
      const ready = await fetch(`${base}/readyz`);
      const body = (await ready.json()) as { status: string; checks: Record<string, string> };
      expect({ name, status: ready.status, body: body.status }).toEqual({ name, status: 200, body: 'READY' });
      expect(Object.values(body.checks).every((c) => c === 'ok')).toBe(true);
      if (name !== 'broker' && name !== 'console') expect(body.checks.database).toBe('ok');
      else expect(body.checks.database).toBeUndefined();
      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.status).toBe(200);
      const text = await metrics.text();
      expect(text).toContain(`target_info{service_name="${name}"}`);
      expect(text).toContain('process_cpu_seconds_total');
    }
    const brokerMetrics = await (await fetch(`${http.broker}/metrics`)).text();
    // Both PUBLISHes came in; one was delivered to the subscriber, one denied.
    expect(brokerMetrics).toMatch(/^tollgate_broker_messages_total\{direction="in"\} 2$/m);
    expect(brokerMetrics).toMatch(/^tollgate_broker_messages_total\{direction="out"\} 1$/m);
    expect(brokerMetrics).toMatch(/^tollgate_broker_connections 1$/m);
    expect(brokerMetrics).toMatch(/^tollgate_broker_denials_total\{action="publish"\} 1$/m);

    client.end(true);
    for (const s of started) s.child.kill('SIGTERM');
    const codes = await Promise.all(started.map((s) => new Promise((resolve) => (s.child.exitCode !== null ? resolve(s.child.exitCode) : s.child.once('exit', resolve)))));
    expect(codes).toEqual([0, 0, 0, 0, 0]);
  });

  it('runs authz ×2, quota ×2 (ownership shared), broker ×2 (one cluster over NATS) and the console: limits hold across both edges, revocation reaches both, a CONNECT is one trace across processes, one authz and one quota replica can die', { timeout: 600_000 }, async () => {
    const credentials = JSON.parse(readFileSync(join(dataDir, 'root-credentials.json'), 'utf8')) as { account_id: string; master_token: string };
    const grpc = { identity: await freeListenPort(), authz: [await freeListenPort(), await freeListenPort()], quota: [await freeListenPort(), await freeListenPort()], broker: [await freeListenPort(), await freeListenPort()] };
    const list = (ports: number[]) => `ipv4:${ports.map((p) => `127.0.0.1:${p}`).join(',')}`;
    // One name per replicated service that resolves to every replica, as a Kubernetes headless
    // Service does: clients spread their calls over all of them (round robin).
    const peers = { TOLLGATE_IDENTITY_URL: `127.0.0.1:${grpc.identity}`, TOLLGATE_AUTHZ_URL: list(grpc.authz), TOLLGATE_QUOTA_URL: list(grpc.quota), TOLLGATE_BROKER_URL: list(grpc.broker) };
    const http0 = { TOLLGATE_IDENTITY_HTTP_PORT: '0', TOLLGATE_AUTHZ_HTTP_PORT: '0', TOLLGATE_QUOTA_HTTP_PORT: '0', TOLLGATE_BROKER_HTTP_PORT: '0', TOLLGATE_MQTT_PORT: '0', TOLLGATE_MQTT_WS_PORT: '0' };
    // Every process exports its spans over OTLP/HTTP (protobuf) to one collector, as in production.
    otlp = await startOtlpReceiver();
    nats = await startNatsNode();
    const env = (extra: Record<string, string>, withDatabase = true) => ({ ...baseEnv(), ...peers, ...http0, OTEL_EXPORTER_OTLP_ENDPOINT: otlp!.url, ...(withDatabase ? { DATABASE_URL: scratch.url } : {}), ...extra });
    // Quota replicas as a StatefulSet runs them: one list everywhere. Here every replica is on
    // 127.0.0.1, so there is no host name to find itself by: the explicit index override stands in
    // (deriving it from HOSTNAME is tested in libs/config/quota-replicas.test.ts).
    const replicas = grpc.quota.map((p) => `127.0.0.1:${p}`).join(',');
    const started = await Promise.all([
      startService('identity', env({ TOLLGATE_IDENTITY_GRPC_PORT: String(grpc.identity) })),
      ...grpc.authz.map((p) => startService('authz', env({ TOLLGATE_AUTHZ_GRPC_PORT: String(p) }))),
      ...grpc.quota.map((p, i) => startService('quota', env({ TOLLGATE_QUOTA_GRPC_PORT: String(p), TOLLGATE_QUOTA_REPLICAS: replicas, TOLLGATE_QUOTA_REPLICA_INDEX: String(i), HOSTNAME: `quota-${i}` }))),
      ...grpc.broker.map((p) => startService('broker', env({ TOLLGATE_BROKER_GRPC_PORT: String(p), TOLLGATE_NATS_URL: nats!.url }, false))),
      // The console reaches every service through the same names: identity, both authz, both quota, both edges.
      startService('console', env({ TOLLGATE_CONSOLE_HTTP_PORT: '0' }, false)),
    ]);
    running.push(...started.map((s) => s.child));
    const [, authz1, , quota1, , edge1, edge2, consoleProc] = started;
    await Promise.all(started.map((s) => untilReady(httpOf(s))));
    const consoleHttp = httpOf(consoleProc!);
    const edges = [edge1!.summary.mqtt!.tcp!, edge2!.summary.mqtt!.tcp!];

    const master = { headers: { authorization: `Bearer ${credentials.master_token}` } };
    const identity = createRpcClient(IdentityService, peers.TOLLGATE_IDENTITY_URL);
    const quota = createRpcClient(QuotaService, peers.TOLLGATE_QUOTA_URL);
    let authz = createRpcClient(AuthzService, peers.TOLLGATE_AUTHZ_URL);
    /** A subaccount of the root of this step's own, and an acl token in it for devices/<client id>/#. */
    const tenant = async (name: string) => {
      const accountId = (await identity.createAccount({ name, parentId: credentials.account_id }, master)).account!.id;
      const token = await authz.createToken(
        { accountId, name, kind: TokenKind.ACL, rules: [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] }] },
        master,
      );
      return { accountId, tokenId: token.token!.id, secret: token.secret };
    };
    const connectOnce = (edge: string, clientId: string, username: string, password?: string) =>
      new Promise<{ client: MqttClient; refused?: number | 'closed' }>((resolve) => {
        const c = mqtt.connect(`mqtt://${edge}`, { protocolVersion: 5, clientId, username, password, reconnectPeriod: 0, connectTimeout: 10_000 });
        clients.push(c);
        // Counted once per CONNECT, for the Prometheus test: CONNACK success or the refusal.
        let settled = false;
        c.once('connect', () => {
          if (!settled) (settled = true), replicated.connectsAccepted++;
          resolve({ client: c });
        });
        c.once('error', (e) => {
          if (!settled) (settled = true), replicated.connectsRefused++;
          resolve({ client: c, refused: (e as { code?: number }).code ?? -1 });
        });
        // The connection closed with no CONNACK at all (mqtt.js then emits neither event above):
        // an answer too — 'closed' — rather than a test that waits for ever.
        c.once('close', () => {
          if (!settled) (settled = true), resolve({ client: c, refused: 'closed' });
        });
      });
    /**
     * A CONNECT, sent again while the edge answers 0x88 (Server unavailable): the edge's 200 ms
     * deadline on authz passed — on a loaded CI machine a cold credential can take longer, and fail
     * closed is the written policy. Every other answer (0x97 included) is the answer.
     */
    const connectTo = async (edge: string, clientId: string, username: string, password?: string) => {
      let outcome = await connectOnce(edge, clientId, username, password);
      for (const until = Date.now() + 15_000; outcome.refused === 0x88 && Date.now() < until; ) outcome = await connectOnce(edge, clientId, username, password);
      return outcome;
    };
    try {
      // The acl token works on both edges: each edge asks authz (either replica) and meters on quota.
      const fleet = await tenant('fleet');
      const fleetClients: MqttClient[] = [];
      for (const [i, edge] of edges.entries()) {
        const { client, refused } = await connectTo(edge, `dev-${i}`, fleet.secret);
        fleetClients.push(client);
        expect({ edge: i, refused }).toEqual({ edge: i, refused: undefined });
        await within(`SUBACK on edge ${i}`, client.subscribeAsync(`devices/dev-${i}/#`, { qos: 1 }));
        const got = new Promise<string>((resolve) => client.once('message', (topic, payload) => resolve(`${topic}=${payload.toString()}`)));
        await within(`PUBACK on edge ${i}`, client.publishAsync(`devices/dev-${i}/temp`, String(i), { qos: 1 }));
        expect(await within(`the message back on edge ${i}`, got)).toBe(`devices/dev-${i}/temp=${i}`);
      }

      // The console, with the bootstrap master token on its REST API, sees what the replicas hold:
      // accounts (identity), tokens (authz, either replica), and the clients of both edges (the
      // edges answer ListClients for the whole NATS cluster).
      const api = async (path: string, init: { method?: string; body?: unknown } = {}) => {
        const res = await fetch(`${consoleHttp}/api/v1${path}`, {
          method: init.method ?? 'GET',
          headers: { authorization: `Bearer ${credentials.master_token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
          body: init.body ? JSON.stringify(init.body) : undefined,
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      const accounts = await api(`/accounts?root_id=${credentials.account_id}`);
      expect(accounts.status).toBe(200);
      expect((accounts.body.accounts as { id: string; name: string }[]).filter((a) => a.id === fleet.accountId).map((a) => a.name)).toEqual(['fleet']);
      const fleetTokens = await api(`/tokens?account_id=${fleet.accountId}`);
      expect({ status: fleetTokens.status, ids: (fleetTokens.body.tokens as { id: string }[]).map((t) => t.id) }).toEqual({ status: 200, ids: [fleet.tokenId] });
      const fleetOnline = await api(`/clients?account_id=${fleet.accountId}`);
      expect({ status: fleetOnline.status, clients: (fleetOnline.body.clients as { client_id: string }[]).map((c) => c.client_id).sort() }).toEqual({ status: 200, clients: ['dev-0', 'dev-1'] });

      // A CONNECT is one trace across four OS processes: broker → authz → identity. A password
      // CONNECT, because that is the path on which authz asks identity on every cold credential
      // (VerifyPassword); a token is decided by authz alone once it knows the account's path. The
      // user is created through the console. Spans arrive by OTLP/HTTP from each process's batch
      // exporter (every 5 s), decoded by the receiver as a collector would.
      const traced = await tenant('traced');
      const user = await api('/users', { method: 'POST', body: { username: 'traced-operator', password: 'correct horse battery staple', account_id: traced.accountId, role: 'member' } });
      expect(user.status).toBe(201);
      const tracedDevice = await connectTo(edges[1]!, 'traced-device', 'traced-operator', 'correct horse battery staple');
      expect(tracedDevice.refused).toBeUndefined();
      tracedDevice.client.end(true);
      const connectSpan = await eventually('the accepted CONNECT span at the collector', () =>
        otlp!.spans().find((s) => s.name === 'MQTT CONNECT' && s.attributes['messaging.client.id'] === 'traced-device' && s.attributes['mqtt.connect.accepted'] === true), 20_000);
      expect(connectSpan).toMatchObject({ service: 'broker', parentSpanId: undefined, attributes: { 'tollgate.account': traced.accountId } });
      const verify = await eventually('identity\'s VerifyPassword span in the CONNECT\'s trace', () =>
        otlp!.spans().find((s) => s.traceId === connectSpan.traceId && s.service === 'identity' && s.kind === 2 && s.name.endsWith('/VerifyPassword')), 20_000);
      // Walked up from identity's span to the root through the parent ids. Each process exports on
      // its own timer, so a link may still be on its way: walk again until the walk ends at a root
      // span (no parent id) or 20 s pass — then the walk as far as it got is what is compared.
      const chain = () => {
        const inTrace = new Map(otlp!.spans().filter((s) => s.traceId === connectSpan.traceId).map((s) => [s.spanId, s]));
        const walk: ReceivedSpan[] = [verify];
        for (let parent = verify.parentSpanId; parent && inTrace.has(parent); parent = walk[0]!.parentSpanId) walk.unshift(inTrace.get(parent)!);
        return { complete: walk[0]!.parentSpanId === undefined, names: walk.map((span) => `${span.service}:${span.name}`) };
      };
      for (const until = Date.now() + 20_000; !chain().complete && Date.now() < until; ) await new Promise((resolve) => setTimeout(resolve, 100));
      // Every hop linked parent → child, each span named by the process that made it.
      expect(chain().names).toEqual([
        'broker:MQTT CONNECT',
        'broker:tollgate.authz.v1.AuthzService/Authenticate',
        'authz:tollgate.authz.v1.AuthzService/Authenticate',
        'authz:tollgate.identity.v1.IdentityService/VerifyPassword',
        'identity:tollgate.identity.v1.IdentityService/VerifyPassword',
      ]);
      expect(otlp!.errors()).toEqual([]);

      // mqtt.connections = 2 over both edges: exactly 2 clients are admitted, one on each edge
      // (with each replica owning every tree, as before, 4 were; and 12 messages a minute got through below).
      const limited = await tenant('limited');
      await quota.setLimits({ accountId: limited.accountId, limits: [{ metric: 'mqtt.connections', kind: LimitKind.CONCURRENCY, value: 2n }] }, master);
      const admitted: (number | 'closed' | undefined)[] = [];
      for (const [n, edge] of [...edges, ...edges, ...edges].entries()) admitted.push((await connectTo(edge, `conn-${n}`, limited.secret)).refused);
      expect(admitted).toEqual([undefined, undefined, 0x97, 0x97, 0x97, 0x97]);

      // A rate limit holds across both edges: 6 messages a minute, published alternately on both.
      const rated = await tenant('rated');
      await quota.setLimits({ accountId: rated.accountId, limits: [{ metric: 'mqtt.messages.in', kind: LimitKind.RATE, value: 6n, period: Period.MINUTE }] }, master);
      const publishers = await Promise.all(edges.map((edge, i) => connectTo(edge, `rate-${i}`, rated.secret)));
      expect(publishers.map((p) => p.refused)).toEqual([undefined, undefined]);
      const rateStarted = Date.now();
      const acked = [0, 0];
      // Over its budget an edge holds the client back (stops reading it) until quota grants more:
      // 8 QoS 1 messages from each edge at once, and count the PUBACKs.
      for (const [i, p] of publishers.entries()) for (let n = 0; n < 8; n++) void p.client.publishAsync(`devices/rate-${i}/n`, String(n), { qos: 1 }).then(() => acked[i]!++, () => {});
      const throttledOn = async (http: string) => Number(/^tollgate_broker_quota_limited_total\{outcome="throttled"\} (\d+)$/m.exec(await (await fetch(`${http}/metrics`)).text())?.[1] ?? 0);
      for (const until = Date.now() + 20_000; acked[0]! + acked[1]! < 6; await new Promise((resolve) => setTimeout(resolve, 50))) {
        if (Date.now() > until) throw new Error(`only ${acked.join('+')} of 6 messages acknowledged within 20 s`);
      }
      // Both edges have held messages back since (what a rate limit answers), and no more than the
      // limit got through: the bucket refills one message every 10 s, so at most that much more.
      for (const until = Date.now() + 10_000; ; await new Promise((resolve) => setTimeout(resolve, 100))) {
        const held = await Promise.all([edge1!, edge2!].map((e) => throttledOn(e.summary.services[0]!.http!)));
        if (held.every((h) => h > 0)) break;
        if (Date.now() > until) throw new Error(`edges did not hold messages back: ${held.join(',')}`);
      }
      const bound = 6 + Math.floor((Date.now() - rateStarted) / 10_000);
      // An edge whose lease call to quota missed its deadline (2 s here) admits on its own (the default
      // TOLLGATE_BROKER_QUOTA_FAIL_OPEN): a failure here names that count, to tell policy from a leak.
      const quotaUnavailable = await Promise.all([edge1!, edge2!].map(async (e) => /^tollgate_broker_peer_unavailable_total\{peer="quota"\} (\d+)$/m.exec(await (await fetch(`${httpOf(e)}/metrics`)).text())?.[1] ?? '0'));
      expect(acked[0]! + acked[1]!, `messages acknowledged over both edges (quota unavailable to the edges: ${quotaUnavailable.join(', ')} times)`).toBeLessThanOrEqual(bound);
      for (const p of publishers) p.client.end(true);

      // Revoking the fleet token disconnects its clients on both edges within a second.
      const gone = fleetClients.map((c) => new Promise<number>((resolve) => c.once('close', () => resolve(Date.now()))));
      const revokedAt = Date.now();
      await authz.revokeToken({ tokenId: fleet.tokenId }, master);
      // Bounded: a revocation that never reaches an edge fails here, saying so, rather than hanging.
      const closedAt = await Promise.race([
        Promise.all(gone),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the revoked token\'s clients were not disconnected on both edges within 10 s')), 10_000).unref()),
      ]);
      expect(closedAt.map((t) => t - revokedAt <= 1_000)).toEqual([true, true]);

      // Both authz and both quota replicas served calls: the edges and this test's clients spread
      // them over every address of one name (round robin), not one replica per client.
      const served = async (http: string, service: string) =>
        (await (await fetch(`${http}/metrics`)).text())
          .split('\n')
          .filter((line) => line.startsWith('rpc_server_duration_seconds_count{') && line.includes(`rpc_method="${service}/`))
          .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
      const authzServed = await Promise.all([started[1]!, started[2]!].map((s) => served(s.summary.services[0]!.http!, 'tollgate.authz.v1.AuthzService')));
      const quotaServed = await Promise.all([started[3]!, started[4]!].map((s) => served(s.summary.services[0]!.http!, 'tollgate.quota.v1.QuotaService')));
      expect({ authzServed: authzServed.map((n) => n > 0), quotaServed: quotaServed.map((n) => n > 0) }).toEqual({ authzServed: [true, true], quotaServed: [true, true] });

      // One authz replica and one quota replica die: new connects (new credentials, so authz is
      // asked) still work on both edges.
      authz1!.child.kill('SIGKILL');
      quota1!.child.kill('SIGKILL');
      await Promise.all([authz1!, quota1!].map((s) => new Promise((resolve) => (s.child.exitCode !== null || s.child.signalCode !== null ? resolve(null) : s.child.once('exit', resolve)))));
      authz.close();
      authz = createRpcClient(AuthzService, peers.TOLLGATE_AUTHZ_URL);
      const survivors = await tenant('after-failover');
      for (const [i, edge] of edges.entries()) {
        const { refused } = await connectTo(edge, `late-${i}`, survivors.secret);
        expect({ edge: i, refused }).toEqual({ edge: i, refused: undefined });
      }

      // The console keeps answering: healthy, ready, and its calls reach identity, the surviving
      // authz and quota replicas, and both edges (each read twice, so round robin meets the dead address).
      expect((await fetch(`${consoleHttp}/healthz`)).status).toBe(200);
      expect((await fetch(`${consoleHttp}/readyz`)).status).toBe(200);
      for (let round = 0; round < 2; round++) {
        expect((await api(`/accounts?root_id=${credentials.account_id}`)).status).toBe(200);
        const tokens = await api(`/tokens?account_id=${survivors.accountId}`);
        expect({ status: tokens.status, ids: (tokens.body.tokens as { id: string }[]).map((t) => t.id) }).toEqual({ status: 200, ids: [survivors.tokenId] });
        const limits = await api(`/limits?account_id=${limited.accountId}`);
        expect({ status: limits.status, limits: (limits.body.limits as { metric: string; value: number }[]).map((l) => [l.metric, l.value]) }).toEqual({ status: 200, limits: [['mqtt.connections', 2]] });
        const online = await api(`/clients?account_id=${survivors.accountId}`);
        expect({ status: online.status, clients: (online.body.clients as { client_id: string }[]).map((c) => c.client_id).sort() }).toEqual({ status: 200, clients: ['late-0', 'late-1'] });
      }
    } finally {
      identity.close();
      quota.close();
      authz.close();
    }
    replicated.alive = started.filter((s) => s !== authz1 && s !== quota1);
    replicated.scrape = started.map((s) => ({ service: serviceOf(s), http: httpOf(s) }));
  });

  const prometheus = '/usr/bin/prometheus';
  const scrapeTitle = "a real Prometheus scrapes every replica's /metrics and counts what the test did";
  it.skipIf(!existsSync(prometheus))(existsSync(prometheus) ? scrapeTitle : `${scrapeTitle} (skipped: ${prometheus} is not installed; .ci/run installs Debian's package)`, { timeout: 60_000 }, async () => {
    expect(replicated.alive).toHaveLength(6);
    const storage = mkdtempSync(join(tmpdir(), 'tg-prom-'));
    const port = await freePort();
    const config = join(storage, 'prometheus.yml');
    const services = [...new Set(replicated.scrape.map((t) => t.service))];
    const jobs = services.map((service) => ({
      job_name: service,
      scrape_interval: '1s',
      static_configs: [{ targets: replicated.scrape.filter((t) => t.service === service).map((t) => new URL(t.http).host) }],
    }));
    writeFileSync(config, JSON.stringify({ global: { scrape_interval: '1s', scrape_timeout: '900ms' }, scrape_configs: jobs }));
    const child = spawn(prometheus, [`--config.file=${config}`, `--storage.tsdb.path=${join(storage, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const query = async (promql: string) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`).catch(() => undefined);
      if (!res?.ok) return undefined;
      const body = (await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      return body.data.result;
    };
    try {
      // Every target scraped at least once: 6 up (identity, authz, quota, two edges, console), the killed authz and quota replica down.
      for (const until = Date.now() + 30_000; ; await new Promise((resolve) => setTimeout(resolve, 250))) {
        const up = await query('up');
        if (up?.length === 8) {
          expect(up.filter((r) => r.value[1] === '1').map((r) => r.metric.job).sort()).toEqual(['authz', 'broker', 'broker', 'console', 'identity', 'quota']);
          expect(up.filter((r) => r.value[1] === '0').map((r) => r.metric.job).sort()).toEqual(['authz', 'quota']);
          break;
        }
        if (Date.now() > until) throw new Error(`Prometheus did not scrape every target within 30 s (${JSON.stringify(up)}; ${stderr})`);
      }
      // The edges' CONNECTs summed over both edges, as PromQL sees them, equal what the test counted.
      const sum = async (result: string) => Number((await query(`sum(tollgate_broker_connects_total{result="${result}"})`))?.[0]?.value[1] ?? NaN);
      expect(await sum('accepted')).toBe(replicated.connectsAccepted);
      expect(await sum('refused')).toBe(replicated.connectsRefused);
      const perEdge = await query('sum by (instance) (tollgate_broker_connects_total{result="accepted"})');
      expect(perEdge).toHaveLength(2);
      // Each live process is one target saying which service it is, the console included.
      const targets = await query('count by (service_name) (target_info)');
      expect(Object.fromEntries(targets!.map((r) => [r.metric.service_name, Number(r.value[1])]))).toEqual({ identity: 1, authz: 1, quota: 1, broker: 2, console: 1 });
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
      rmSync(storage, { recursive: true, force: true });
    }
  });

  it('stops every remaining replica gracefully (SIGTERM → exit 0)', { timeout: 30_000 }, async () => {
    for (const c of clients) c.end(true);
    const alive = replicated.alive;
    expect(alive).toHaveLength(6);
    for (const s of alive) s.child.kill('SIGTERM');
    const codes = await Promise.all(alive.map((s) => new Promise((resolve) => (s.child.exitCode !== null ? resolve(s.child.exitCode) : s.child.once('exit', resolve)))));
    expect(codes).toEqual([0, 0, 0, 0, 0, 0]);
  });
});
