import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createRpcClient } from '#libs/rpc/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { BrokerAdminService } from '#gen/tollgate/broker/v1/broker_pb.js';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { LimitKind, Period, QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

/**
 * The whole mesh in one process: real identity, authz and broker over real gRPC, devices as real
 * MQTT.js clients, every message metered against quota leases.
 */
describe('MQTT devices through the mesh', () => {
  let mesh: TestMesh;
  let authz: ReturnType<typeof createRpcClient<typeof AuthzService>>;
  const clients: MqttClient[] = [];
  let mqttUrl: string;

  function connect(opts: IClientOptions): Promise<MqttClient> {
    return new Promise((resolve, reject) => {
      const client = mqtt.connect(mqttUrl, { reconnectPeriod: 0, connectTimeout: 3_000, ...opts });
      clients.push(client);
      client.once('connect', () => resolve(client));
      client.once('error', (e) => {
        client.end(true);
        reject(e);
      });
    });
  }

  async function deviceToken(accountId: string, master: string) {
    return authz.createToken(
      { accountId, name: 'fleet', kind: TokenKind.ACL, rules: [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] }] },
      bearer(master),
    );
  }

  /**
   * Publishes each payload to `topic` (QoS 1) and returns the PUBACK reason codes (0: admitted), up
   * to the first refusal: over its volume the edge cuts the client, and MQTT.js would hold the rest
   * for a reconnect that never comes.
   */
  async function pubackCodes(client: MqttClient, topic: string, payloads: string[]): Promise<number[]> {
    const codes: number[] = [];
    for (const payload of payloads) {
      codes.push(await client.publishAsync(topic, payload, { qos: 1 }).then(() => 0, (e: { code?: number }) => e.code ?? -1));
      if (codes.at(-1) !== 0) break;
    }
    return codes;
  }

  beforeAll(async () => {
    mesh = await startTestMesh();
    authz = createRpcClient(AuthzService, mesh.address('authz'));
    mqttUrl = `mqtt://${mesh.broker!.mqttAddresses().tcp}`;
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    authz?.close();
    await mesh?.stop();
  });

  it('lets an acl-token device publish and subscribe on devices/${client_id}/# and nowhere else', async () => {
    const t = await mesh.createTenant('fleet-a');
    const { secret } = await deviceToken(t.accountId, t.masterToken);
    const dev = await connect({ protocolVersion: 5, clientId: 'c1', username: secret });
    const granted = await dev.subscribeAsync('devices/c1/#');
    expect(granted.map((g) => g.qos)).toEqual([0]);
    await expect(dev.subscribeAsync('devices/+/temp')).rejects.toThrow(/Not authorized/);
    const got = new Promise<string>((resolve) => dev.once('message', (topic, payload) => resolve(`${topic}=${payload.toString()}`)));
    await dev.publishAsync('devices/c1/temp', '21.5', { qos: 1 });
    expect(await got).toBe('devices/c1/temp=21.5');
    const refused = await dev.publishAsync('devices/c2/temp', 'x', { qos: 1 }).then(
      (p) => p,
      (e: { code?: number }) => e,
    );
    expect(refused).toMatchObject({ code: 0x87 });
  });

  it('binds ${client_id} to each connection, even when many devices share one token (cached credential)', async () => {
    const t = await mesh.createTenant('shared-token');
    const { secret } = await deviceToken(t.accountId, t.masterToken);
    const first = await connect({ protocolVersion: 5, clientId: 'd1', username: secret });
    const second = await connect({ protocolVersion: 5, clientId: 'd2', username: secret }); // served from the credential cache
    expect(await second.publishAsync('devices/d2/t', 'ok', { qos: 1 })).toBeDefined();
    const crossed = await second.publishAsync('devices/d1/t', 'not mine', { qos: 1 }).then((p) => p, (e: { code?: number }) => e);
    expect(crossed).toMatchObject({ code: 0x87 });
    await expect(second.subscribeAsync('devices/d1/#')).rejects.toThrow(/Not authorized/);
    expect(await first.publishAsync('devices/d1/t', 'ok', { qos: 1 })).toBeDefined();
  });

  it('refuses a bad token (v5 0x86, v3.1.1 return code 4)', async () => {
    await expect(connect({ protocolVersion: 5, clientId: 'x', username: 'tg_not-a-real-token' })).rejects.toMatchObject({ code: 0x86 });
    await expect(connect({ protocolVersion: 4, clientId: 'y', username: 'nobody', password: 'wrong password here' })).rejects.toMatchObject({ code: 4 });
  });

  it('isolates accounts: the same topic in two accounts never crosses', async () => {
    const a = await mesh.createTenant('iso-a');
    const b = await mesh.createTenant('iso-b');
    const subA = await connect({ protocolVersion: 5, clientId: 'sa', username: a.masterToken });
    const pubB = await connect({ protocolVersion: 5, clientId: 'pb', username: b.masterToken });
    const subB = await connect({ protocolVersion: 5, clientId: 'sb', username: b.masterToken });
    await subA.subscribeAsync('devices/1');
    await subB.subscribeAsync('devices/1');
    const seenA: string[] = [];
    subA.on('message', (_t, p) => seenA.push(p.toString()));
    const seenB = new Promise<string>((resolve) => subB.once('message', (_t, p) => resolve(p.toString())));
    await pubB.publishAsync('devices/1', 'from-b', { qos: 1 });
    expect(await seenB).toBe('from-b');
    // Sentinel: routed after B's message (PUBACK awaited), so A's socket would have carried B's first.
    const pubA = await connect({ protocolVersion: 5, clientId: 'pa', username: a.masterToken });
    await pubA.publishAsync('devices/1', 'from-a', { qos: 1 });
    await vi.waitFor(() => expect(seenA.length).toBeGreaterThan(0));
    expect(seenA).toEqual(['from-a']);
  });

  it('disconnects a revoked token within one second (DISCONNECT 0x98), and lists/kicks clients', async () => {
    const t = await mesh.createTenant('revoke');
    const tok = await deviceToken(t.accountId, t.masterToken);
    const dev = await connect({ protocolVersion: 5, clientId: 'c7', username: tok.secret });
    const admin = createRpcClient(BrokerAdminService, mesh.address('broker'));
    const listed = await admin.listClients({ accountId: t.accountId }, bearer(t.masterToken));
    expect(listed.clients.map((c) => c.clientId)).toEqual(['c7']);
    const disconnected = new Promise<number>((resolve) => dev.once('disconnect', (p) => resolve(p.reasonCode ?? -1)));
    const revokedAt = performance.now();
    await authz.revokeToken({ tokenId: tok.token!.id }, bearer(t.masterToken));
    expect(await disconnected).toBe(0x98);
    expect(performance.now() - revokedAt).toBeLessThan(1_000);
    await expect(connect({ protocolVersion: 5, clientId: 'c7', username: tok.secret })).rejects.toMatchObject({ code: 0x86 });
    const other = await connect({ protocolVersion: 5, clientId: 'c8', username: t.masterToken });
    const kicked = new Promise<number>((resolve) => other.once('disconnect', (p) => resolve(p.reasonCode ?? -1)));
    expect((await admin.kickClient({ clientId: 'c8', accountId: t.accountId }, bearer(t.masterToken))).kicked).toBe(true);
    expect(await kicked).toBe(0x98);
    const stranger = await mesh.createTenant('stranger');
    await expect(admin.listClients({ accountId: t.accountId }, bearer(stranger.masterToken))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    admin.close();
  });

  /**
   * Runs `scenario` (on a tenant of its own each time) until no call from the edge to quota failed
   * while it ran — at most three times — and returns what that run saw. A call that misses its
   * deadline on a loaded machine (a lease: TOLLGATE_BROKER_QUOTA_DEADLINE; the read of an account's
   * retained limit: 1 s) makes the edge go on without quota's answer, by design: it admits on its
   * own for a second after a lease (fail open), or applies only its own retained cap for 5 s. Such a
   * run shows nothing about a limit, so it is run again, not judged. Only that counted failure
   * gives a second run; a limit not applied while quota answered is judged the first time. The
   * scenario only observes; the caller asserts.
   */
  async function whileQuotaAnswers<T>(scenario: (attempt: number) => Promise<T>): Promise<T> {
    const metrics = mesh.broker!.metrics;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const before = metrics.get('quota_unavailable');
      const seen = await scenario(attempt);
      if (metrics.get('quota_unavailable') === before) return seen;
    }
    throw new Error('calls from the edge to quota failed (quota_unavailable) in each of 3 runs: the edge went on without its answer (fail open), so no run could show the limit');
  }

  it("gives an account's admins its own broker figures (GetStats account_id, its subtree when asked) and no other tenant's", async () => {
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    const admin = createRpcClient(BrokerAdminService, mesh.address('broker'));
    const quota = createRpcClient(QuotaService, mesh.address('quota'));
    // The subaccount's figures come from its volume limit (2 admitted, the 3rd refused and cut):
    // a run in which quota did not answer in time let the edge admit on its own, so it is run again.
    const run = await whileQuotaAnswers(async (attempt) => {
      const t = await mesh.createTenant(`stats-${attempt}`);
      const sub = (await identity.createAccount({ name: `stats-sub-${attempt}`, parentId: t.accountId }, bearer(t.masterToken))).account!.id;
      await quota.setLimits({ accountId: sub, limits: [{ metric: 'mqtt.messages.in', kind: LimitKind.VOLUME, value: 2n, period: Period.DAY }] }, bearer(t.masterToken));
      const subDevice = await deviceToken(sub, t.masterToken);
      // Traffic of another tenant on the same edge, which must never show in this account's figures.
      const other = await mesh.createTenant(`stats-other-${attempt}`);
      const noise = await connect({ protocolVersion: 5, clientId: `n${attempt}`, username: other.masterToken });
      for (let i = 0; i < 4; i++) await noise.publishAsync('st/a', 'noise', { qos: 1 });

      const own = await connect({ protocolVersion: 5, clientId: `s${attempt}-1`, username: t.masterToken });
      await own.subscribeAsync('st/#', { qos: 1 });
      let received = 0;
      const allThree = new Promise<void>((resolve) => own.on('message', () => ++received === 3 && resolve()));
      for (let i = 0; i < 3; i++) await own.publishAsync('st/a', String(i), { qos: 1 });
      await allThree;
      const clientId = `s${attempt}-2`;
      const dev = await connect({ protocolVersion: 5, clientId, username: subDevice.secret });
      const strayed = await dev.subscribeAsync('elsewhere/#', { qos: 1 }).then((granted) => granted, (e: Error) => e);
      const cut = new Promise<number>((resolve) => dev.once('disconnect', (p) => resolve(p.reasonCode ?? -1)));
      const sent = await pubackCodes(dev, `devices/${clientId}/x`, ['0', '1', 'over']);
      return { t, sub, other, strayed, sent, cut };
    });
    const { t, sub, other } = run;
    expect(run.strayed).toMatchObject({ message: expect.stringMatching(/Not authorized/) });
    expect(run.sent).toEqual([0, 0, 0x97]);
    expect(await run.cut).toBe(0x97);

    const mine = await admin.getStats({ accountId: t.accountId }, bearer(t.masterToken));
    expect(mine).toMatchObject({ accounts: 1, connections: 1n, sessions: 1n, subscriptions: 1n, messagesIn: 3n, messagesOut: 3n, denied: 0n, quotaRejected: 0n });
    const tree = await admin.getStats({ accountId: t.accountId, includeSubaccounts: true }, bearer(t.masterToken));
    expect(tree).toMatchObject({ accounts: 2, connections: 1n, messagesIn: 5n, messagesOut: 3n, denied: 1n, quotaRejected: 1n });
    expect(tree.bytesIn).toBe(mine.bytesIn + 2n);
    // The subaccount alone, asked by its parent's admin.
    expect(await admin.getStats({ accountId: sub }, bearer(t.masterToken))).toMatchObject({ accounts: 1, connections: 0n, messagesIn: 2n, denied: 1n, quotaRejected: 1n });
    // Another tenant may not read them; a tenant may not read the edge-wide counters.
    await expect(admin.getStats({ accountId: t.accountId }, bearer(other.masterToken))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(admin.getStats({}, bearer(t.masterToken))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(await admin.getStats({ accountId: other.accountId }, bearer(other.masterToken))).toMatchObject({ connections: 1n, messagesIn: 4n, messagesOut: 0n });
    identity.close();
    admin.close();
    quota.close();
  });

  it('meters every message against the account tree: throttled over a rate limit, 0x97 over a volume limit', async () => {
    const quota = createRpcClient(QuotaService, mesh.address('quota'));
    const metrics = mesh.broker!.metrics;
    const burst = await whileQuotaAnswers(async (attempt) => {
      const t = await mesh.createTenant(`metered-${attempt}`);
      await quota.setLimits({ accountId: t.accountId, limits: [{ metric: 'mqtt.messages.in', kind: LimitKind.RATE, value: 20n, period: Period.SECOND, burst: 10n }] }, bearer(t.masterToken));
      const dev = await connect({ protocolVersion: 5, clientId: `m${attempt}`, username: t.masterToken });
      const admittedBefore = metrics.get('messages_in');
      const started = performance.now();
      for (let i = 0; i < 30; i++) await dev.publishAsync('meter/x', String(i), { qos: 1 }); // each PUBACK'd with success, or this throws
      return { elapsedMs: performance.now() - started, admitted: metrics.get('messages_in') - admittedBefore };
    });
    // Never dropped: all 30 admitted (and acknowledged, above). Delayed: quota's bucket (full, 10, at
    // the first lease) grants the other 20 at 20/s, so a second at least however fast the machine —
    // a lower bound only, with 100 ms of slack between quota's clock and this one.
    expect(burst.admitted).toBe(30);
    expect(burst.elapsedMs).toBeGreaterThan(900);

    const volume = await whileQuotaAnswers(async (attempt) => {
      const v = await mesh.createTenant(`volume-${attempt}`);
      await quota.setLimits({ accountId: v.accountId, limits: [{ metric: 'mqtt.messages.in', kind: LimitKind.VOLUME, value: 3n, period: Period.DAY }] }, bearer(v.masterToken));
      const small = await connect({ protocolVersion: 5, clientId: `v${attempt}`, username: v.masterToken });
      const cut = new Promise<number>((resolve) => small.once('disconnect', (p) => resolve(p.reasonCode ?? -1)));
      for (let i = 0; i < 3; i++) await small.publishAsync('meter/v', String(i), { qos: 1 });
      const refused = await small.publishAsync('meter/v', 'over', { qos: 1 }).then((p) => p, (e: { code?: number }) => e);
      return { refused, cut };
    });
    expect(volume.refused).toMatchObject({ code: 0x97 });
    expect(await volume.cut).toBe(0x97);

    const second = await whileQuotaAnswers(async (attempt) => {
      const k = await mesh.createTenant(`connections-${attempt}`);
      await quota.setLimits({ accountId: k.accountId, limits: [{ metric: 'mqtt.connections', kind: LimitKind.CONCURRENCY, value: 1n }] }, bearer(k.masterToken));
      await connect({ protocolVersion: 5, clientId: `k${attempt}-1`, username: k.masterToken });
      return connect({ protocolVersion: 5, clientId: `k${attempt}-2`, username: k.masterToken }).then((c) => c, (e: { code?: number }) => e);
    });
    expect(second).toMatchObject({ code: 0x97 });
    quota.close();
  });

  it('gives leased units back when a limit change on another account drops every budget: the account still gets exactly its volume', async () => {
    const quota = createRpcClient(QuotaService, mesh.address('quota'));
    // A run in which quota did not answer in time let the edge admit on its own (or go without the
    // sentinel's retained limit): it says nothing about the units given back, so it is run again.
    const run = await whileQuotaAnswers(async (attempt) => {
      const v = await mesh.createTenant(`volume-kept-${attempt}`);
      const other = await mesh.createTenant(`limit-changer-${attempt}`);
      // Volume 4: quota's fair share grants one unit at a time, so the edge always holds the next one.
      await quota.setLimits({ accountId: v.accountId, limits: [{ metric: 'mqtt.messages.in', kind: LimitKind.VOLUME, value: 4n, period: Period.DAY }] }, bearer(v.masterToken));
      await quota.setLimits({ accountId: other.accountId, limits: [{ metric: 'mqtt.retained', kind: LimitKind.COUNT, value: 1n }] }, bearer(other.masterToken));
      const sentinel = await connect({ protocolVersion: 5, clientId: `lc${attempt}`, username: other.masterToken });
      const retain = (topic: string) => sentinel.publishAsync(topic, '1', { qos: 1, retain: true }).then(() => 0, (e: { code?: number }) => e.code ?? -1);
      const sentinelBefore = [await retain('lc/a'), await retain('lc/b')];

      const dev = await connect({ protocolVersion: 5, clientId: `vk${attempt}`, username: v.masterToken });
      const cut = new Promise<number>((resolve) => dev.once('disconnect', (p) => resolve(p.reasonCode ?? -1)));
      const first = await pubackCodes(dev, 'kept/v', ['1']); // spends the first unit; the edge leases the next
      // Another tenant's limit changes: the edge drops every budget (this account's unspent unit too).
      // Its retained limit, read again after the drop, is the sentinel that the edge has done it.
      await quota.setLimits({ accountId: other.accountId, limits: [{ metric: 'mqtt.retained', kind: LimitKind.COUNT, value: 2n }] }, bearer(other.masterToken));
      await vi.waitFor(async () => expect(await retain('lc/b')).toBe(0), { timeout: 3_000, interval: 50 });

      const rest = first[0] === 0 ? await pubackCodes(dev, 'kept/v', ['2', '3', '4', 'over']) : [];
      return { sentinelBefore, sent: [...first, ...rest], cut };
    });
    expect(run.sentinelBefore).toEqual([0, 0x97]);
    expect(run.sent).toEqual([0, 0, 0, 0, 0x97]);
    expect(await run.cut).toBe(0x97);
    quota.close();
  });

  it('caps retained topics per account with the quota limit mqtt.retained: the third distinct topic gets 0x97, replacing and deleting work', async () => {
    const quota = createRpcClient(QuotaService, mesh.address('quota'));
    // The edge reads the limit from quota: a run in which that read did not answer in time applied
    // only the edge's own cap (by design), so it says nothing about the limit and is run again.
    const run = await whileQuotaAnswers(async (attempt) => {
      const t = await mesh.createTenant(`retained-cap-${attempt}`);
      await quota.setLimits({ accountId: t.accountId, limits: [{ metric: 'mqtt.retained', kind: LimitKind.COUNT, value: 2n }] }, bearer(t.masterToken));
      const dev = await connect({ protocolVersion: 5, clientId: `ret${attempt}-1`, username: t.masterToken });
      const code = (topic: string, payload: string) =>
        dev.publishAsync(topic, payload, { qos: 1, retain: true }).then(
          () => 0,
          (e: { code?: number }) => e.code ?? -1,
        );
      const sent: [string, string, number][] = [];
      for (const [topic, payload] of [['ret/a', '1'], ['ret/b', '1'], ['ret/c', '1'], ['ret/a', '2'], ['ret/b', ''], ['ret/c', '1'], ['ret/d', '1']] as const) {
        sent.push([topic, payload, await code(topic, payload)]);
      }
      const sub = await connect({ protocolVersion: 5, clientId: `ret${attempt}-2`, username: t.masterToken });
      const got: string[] = [];
      sub.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`));
      await sub.subscribeAsync('ret/#', { qos: 1 });
      await dev.publishAsync('ret/sentinel', 'end', { qos: 1 });
      await vi.waitFor(() => expect(got).toContain('ret/sentinel=end'), { timeout: 3_000 });
      const retained = got.filter((m) => m !== 'ret/sentinel=end').sort();
      // Raised at runtime: the edge follows WatchLimits and reads the new value.
      await quota.setLimits({ accountId: t.accountId, limits: [{ metric: 'mqtt.retained', kind: LimitKind.COUNT, value: 3n }] }, bearer(t.masterToken));
      await vi.waitFor(async () => expect(await code('ret/d', '1')).toBe(0), { timeout: 3_000, interval: 50 });
      const overRaised = await code('ret/e', '1');
      return { sent, retained, overRaised };
    });
    expect(run.sent).toEqual([
      ['ret/a', '1', 0],
      ['ret/b', '1', 0],
      ['ret/c', '1', 0x97],
      // Replacing a stored topic and deleting one always work; the freed place takes a new topic.
      ['ret/a', '2', 0],
      ['ret/b', '', 0],
      ['ret/c', '1', 0],
      ['ret/d', '1', 0x97],
    ]);
    // The refused topic was not stored nor routed: a new subscriber gets exactly ret/a (2) and ret/c.
    expect(run.retained).toEqual(['ret/a=2', 'ret/c=1']);
    // Raised to 3: ret/d is taken (above), the fourth distinct topic is refused.
    expect(run.overRaised).toBe(0x97);
    quota.close();
  });

  it('applies a limit changed at runtime on the edge within a second', async () => {
    const t = await mesh.createTenant('runtime-limit');
    const dev = await connect({ protocolVersion: 5, clientId: 'r1', username: t.masterToken });
    for (let i = 0; i < 5; i++) await dev.publishAsync('rt/x', String(i), { qos: 1 }); // unlimited: a large lease is held locally
    const quota = createRpcClient(QuotaService, mesh.address('quota'));
    const changedAt = performance.now();
    await quota.setLimits({ accountId: t.accountId, limits: [{ metric: 'mqtt.messages.in', kind: LimitKind.VOLUME, value: 0n, period: Period.DAY }] }, bearer(t.masterToken));
    quota.close();
    let refusedAfterMs: number | undefined;
    while (refusedAfterMs === undefined && performance.now() - changedAt < 2_000) {
      const r = await dev.publishAsync('rt/x', 'more', { qos: 1 }).then(() => undefined, (e: { code?: number }) => e.code);
      if (r === 0x97) refusedAfterMs = performance.now() - changedAt;
      else await new Promise((res) => setTimeout(res, 20));
    }
    expect(refusedAfterMs).toBeDefined();
    expect(refusedAfterMs!).toBeLessThan(1_000);
  });

  it('admits anonymous clients only through the configured anonymous acl token', async () => {
    // The mesh under test has no anonymous token: refused (v5 0x87).
    await expect(connect({ protocolVersion: 5, clientId: 'anon' })).rejects.toMatchObject({ code: 0x87 });
    const t = await mesh.createTenant('open-demo');
    const tok = await authz.createToken(
      { accountId: t.accountId, kind: TokenKind.ACL, rules: [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:public/#'] }] },
      bearer(t.masterToken),
    );
    const demo = await startTestMesh({ only: undefined, database: mesh.database, env: { TOLLGATE_BROKER_ANONYMOUS_TOKEN: tok.token!.id } });
    try {
      const anon = await mqtt.connectAsync(`mqtt://${demo.broker!.mqttAddresses().tcp}`, { protocolVersion: 5, clientId: 'anon', reconnectPeriod: 0 });
      expect((await anon.subscribeAsync('public/news'))[0]!.qos).toBe(0);
      await expect(anon.subscribeAsync('private/x')).rejects.toThrow(/Not authorized/);
      anon.end(true);
    } finally {
      await demo.stop();
    }
  });

  /** Outage cases stop a service: each gets a mesh of its own (on the run's database), never the shared one. */
  async function withOwnMesh(fn: (own: TestMesh, ownConnect: (opts: IClientOptions) => Promise<MqttClient>) => Promise<void>): Promise<void> {
    const own = await startTestMesh({ database: mesh.database });
    const url = `mqtt://${own.broker!.mqttAddresses().tcp}`;
    const ownConnect = (opts: IClientOptions) => mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 3_000, ...opts }).then((c) => (clients.push(c), c));
    try {
      await fn(own, ownConnect);
    } finally {
      await own.stop();
    }
  }

  it('when quota is down: connected devices keep publishing (fail open, counted)', async () => {
    await withOwnMesh(async (own, ownConnect) => {
      const t = await own.createTenant('quota-outage');
      // Small leases (a quarter of a 40-message burst): the edge must go back to quota after ~10.
      const quota = createRpcClient(QuotaService, own.address('quota'));
      await quota.setLimits({ accountId: t.accountId, limits: [{ metric: 'mqtt.messages.in', kind: LimitKind.RATE, value: 40n, period: Period.SECOND, burst: 40n }] }, bearer(t.masterToken));
      quota.close();
      const dev = await ownConnect({ protocolVersion: 5, clientId: 'q1', username: t.masterToken });
      await dev.publishAsync('q/warm', 'x', { qos: 1 });
      // Counted from the stop on: on a busy machine a call of this CONNECT or this first message can
      // miss its deadline (TOLLGATE_BROKER_QUOTA_DEADLINE) while quota is up, and is rightly counted
      // then — but it is not the outage this case is about.
      const metrics = own.broker!.metrics;
      const unavailableBeforeStop = metrics.get('quota_unavailable');
      await own.quota!.stop();
      for (let i = 0; i < 20; i++) await dev.publishAsync('q/x', String(i), { qos: 1 });
      const admin = createRpcClient(BrokerAdminService, own.address('broker'));
      const stats = await admin.getStats({}, bearer(mintServiceCredential(own.secretKey, 'operator')));
      admin.close();
      expect(stats.messagesIn).toBeGreaterThanOrEqual(21n);
      // Admitted while quota was unreachable, and counted as such: the first lease the edge asks for
      // after the stop fails. Usually within the loop above, when the ~10 units run out (that message
      // waits for the failure). After a lease that missed its deadline before the stop, the edge
      // admits on its own for a second before it asks again: until the count moves, each check sends
      // one more message (admitted too), so one is sent after that second and asks. The bound is a
      // hang guard: the count comes within that second plus one lease deadline (2 s here).
      await vi.waitFor(
        async () => {
          if (metrics.get('quota_unavailable') > unavailableBeforeStop) return;
          await dev.publishAsync('q/more', 'x', { qos: 1 });
          throw new Error('no failed call to quota counted since the stop yet');
        },
        { timeout: 10_000, interval: 50 },
      );
    });
  });

  it('when authz is down: new connects get 0x88, connected devices keep publishing', async () => {
    await withOwnMesh(async (own, ownConnect) => {
      const ownAuthz = createRpcClient(AuthzService, own.address('authz'));
      const t = await own.createTenant('outage');
      const { secret } = await ownAuthz.createToken(
        { accountId: t.accountId, name: 'fleet', kind: TokenKind.ACL, rules: [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] }] },
        bearer(t.masterToken),
      );
      ownAuthz.close();
      const dev = await ownConnect({ protocolVersion: 5, clientId: 'c1', username: secret });
      await dev.subscribeAsync('devices/c1/#');
      await own.authz!.stop();
      await expect(ownConnect({ protocolVersion: 5, clientId: 'late', username: t.masterToken })).rejects.toMatchObject({ code: 0x88 });
      await expect(ownConnect({ protocolVersion: 4, clientId: 'late3', username: t.masterToken })).rejects.toMatchObject({ code: 3 });
      const got = new Promise<string>((resolve) => dev.once('message', (_t, p) => resolve(p.toString())));
      await dev.publishAsync('devices/c1/still', 'alive', { qos: 1 });
      expect(await got).toBe('alive');
    });
  });
});
