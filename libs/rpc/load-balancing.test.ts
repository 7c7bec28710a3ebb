import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { EchoService } from '#gen/tollgate/echo/v1/echo_pb.js';
import { silentLogger } from '#libs/telemetry/index.ts';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { createRpcClient, createRpcServer, isIdempotent, serviceConfig, type RpcServer } from './index.ts';

/** An echo replica that counts what it answers, and can hold calls (to be lost when it goes away). */
async function startReplica(name: string) {
  let answered = 0;
  let hold = false;
  let arrived: () => void = () => {};
  const arrival = new Promise<void>((resolve) => (arrived = resolve));
  const server: RpcServer = createRpcServer({ logger: silentLogger(), shutdownGraceMs: 0 });
  server.add(EchoService, {
    async echo(request, ctx) {
      if (hold) {
        arrived();
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      }
      answered++;
      return { message: `${name}:${request.message}`, requestId: ctx.requestId, traceId: '' };
    },
  });
  const backend = await server.listen('127.0.0.1', 0);
  // Clients reach it through a TCP relay, so that "goes away" can be what a crashed process or a
  // lost node looks like from the client: its connections drop, with calls in flight.
  const sockets = new Set<Socket>();
  const relay = createServer((inbound) => {
    const outbound = connect(backend, '127.0.0.1');
    sockets.add(inbound).add(outbound);
    inbound.pipe(outbound).pipe(inbound);
    const drop = () => (inbound.destroy(), outbound.destroy());
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const port = (relay.address() as AddressInfo).port;
  const kill = async () => {
    relay.close();
    for (const socket of sockets) socket.destroy();
    await server.shutdown();
  };
  return { name, port, server, kill, arrival, answered: () => answered, hold: () => (hold = true) };
}

describe('libs/rpc client: one target, several replicas', () => {
  const servers: RpcServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.shutdown();
  });

  it('spreads calls round robin over every address of the target, and keeps working when one replica goes away', async () => {
    const [a, b] = [await startReplica('a'), await startReplica('b')];
    servers.push(a.server, b.server);
    // Echo stands for a read here (retried on UNAVAILABLE): a call that races the replica's end is sent again.
    const client = createRpcClient(EchoService, `ipv4:127.0.0.1:${a.port},127.0.0.1:${b.port}`, { defaultDeadlineMs: 2_000, isIdempotent: () => true });
    try {
      // Until both connections are up, round robin has only one to pick.
      for (const until = Date.now() + 5_000; a.answered() === 0 || b.answered() === 0; ) {
        expect(Date.now()).toBeLessThan(until);
        await client.echo({ message: 'warm' });
      }
      const [beforeA, beforeB] = [a.answered(), b.answered()];
      const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => client.echo({ message: String(i) })));
      expect(replies).toHaveLength(40);
      // Strict rotation over two ready replicas: half each.
      expect([a.answered() - beforeA, b.answered() - beforeB]).toEqual([20, 20]);

      await a.kill();
      const after = await Promise.all(Array.from({ length: 10 }, (_, i) => client.echo({ message: `after ${i}` })));
      expect(after.map((r) => r.message)).toEqual(Array.from({ length: 10 }, (_, i) => `b:after ${i}`));
    } finally {
      client.close();
    }
  });

  it.each([
    [true, 'retried on the other replica'],
    [false, 'not retried: UNAVAILABLE to the caller'],
  ])('a call lost when its replica goes away mid call (idempotent %s) is %s', async (idempotent) => {
    const held = await startReplica('held');
    const fine = await startReplica('fine');
    servers.push(held.server, fine.server);
    const client = createRpcClient(EchoService, `ipv4:127.0.0.1:${held.port},127.0.0.1:${fine.port}`, { defaultDeadlineMs: 5_000, isIdempotent: () => idempotent });
    try {
      for (const until = Date.now() + 5_000; held.answered() === 0 || fine.answered() === 0; ) {
        expect(Date.now()).toBeLessThan(until);
        await client.echo({ message: 'warm' });
      }
      held.hold();
      // Calls rotate over both: one of a pair lands on the replica that holds it.
      const calls = [client.echo({ message: 'x' }), client.echo({ message: 'y' })].map((p) => p.then((r) => r.message, (e: { code: string }) => e.code));
      await held.arrival;
      await held.kill();
      const outcomes = (await Promise.all(calls)).sort();
      if (idempotent) expect(outcomes).toEqual(['fine:x', 'fine:y']);
      else expect(outcomes.filter((o) => o.startsWith('fine:'))).toHaveLength(1), expect(outcomes.filter((o) => !o.startsWith('fine:'))).toEqual(['UNAVAILABLE']);
    } finally {
      client.close();
    }
  });
});

describe('libs/rpc client: which calls are retried', () => {
  const retried = (service: Parameters<typeof serviceConfig>[0]) => {
    const config = JSON.parse(serviceConfig(service, isIdempotent)) as { loadBalancingConfig: unknown[]; methodConfig: { name: { method: string }[]; retryPolicy: { retryableStatusCodes: string[] } }[] };
    expect(config.loadBalancingConfig).toEqual([{ round_robin: {} }]);
    for (const m of config.methodConfig) expect(m.retryPolicy.retryableStatusCodes).toEqual(['UNAVAILABLE']);
    return config.methodConfig.flatMap((m) => m.name.map((n) => n.method));
  };

  it('retries reads, Authenticate, Authorize and renewals; never a consume, a lease, a token created or a password tried', () => {
    const authz = retried(AuthzService);
    expect(authz).toEqual(expect.arrayContaining(['Authenticate', 'Authorize', 'AuthorizeBatch', 'GetToken', 'ListTokens']));
    expect(authz.some((m) => ['CreateToken', 'RevokeToken', 'RotateToken', 'UpdateToken', 'WatchInvalidations'].includes(m))).toBe(false);
    const quota = retried(QuotaService);
    expect(quota).toEqual(expect.arrayContaining(['GetLimits', 'GetUsage', 'RenewSlots', 'LeaseSlots', 'ReportUsage']));
    expect(quota.some((m) => ['Consume', 'Lease', 'AcquireSlot', 'ReleaseSlot', 'SetLimits', 'WatchLimits'].includes(m))).toBe(false);
    const identity = retried(IdentityService);
    expect(identity).toEqual(expect.arrayContaining(['GetAccountTree', 'GetJwks']));
    expect(identity.some((m) => ['VerifyPassword', 'Login', 'CreateAccount', 'RefreshSession'].includes(m))).toBe(false);
    expect(retried(EchoService)).toEqual([]);
  });
});
