import { describe, expect, it } from 'vitest';
import type { RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import { InMemoryAuditSink } from '#libs/audit/in-memory-audit-sink.ts';
import { silentLogger } from '#libs/telemetry/index.ts';
import type { CallContext } from '#libs/rpc/index.ts';
import { brokerAdminHandlers, type ClusterAdmin } from './broker-admin-handlers.ts';
import { clientKickedEvent } from './client-kicked-event.ts';

const owner = { accountId: 'acc_1', subject: 'usr_1', kind: 'user' as const, role: 'owner' };
const requireAdmin = Object.assign(async () => owner, { authenticate: async () => owner }) as RequireAdmin;
const ctx = (requestId: string): CallContext => ({ requestId, deadlineMs: undefined, signal: new AbortController().signal, rpc: 'KickClient', peer: 'ipv4:127.0.0.1:1', logger: silentLogger(), header: () => undefined });

describe('client_kicked', () => {
  it('KickClient records who kicked which client in which account, with the request id, kicked or not', async () => {
    const kicked: [string, number, string | undefined][] = [];
    const edges: ClusterAdmin = {
      listClients: async () => [],
      kick: async (clientId, reason, account) => (kicked.push([clientId, reason, account]), clientId === 'here' ? 1 : 0),
      stats: async () => ({ totals: {} }),
      accountStats: async () => { throw new Error('not asked'); },
    };
    const audit = new InMemoryAuditSink();
    const handlers = brokerAdminHandlers(edges, requireAdmin, async (id) => [id], audit);
    await handlers.kickClient!({ clientId: 'here', accountId: 'acc_1', reasonCode: 0 } as never, ctx('req_a'));
    await handlers.kickClient!({ clientId: 'gone', accountId: 'acc_1', reasonCode: 0x87 } as never, ctx('req_b'));
    await expect(handlers.kickClient!({ clientId: 'x', accountId: 'acc_1', reasonCode: 1 } as never, ctx('req_c'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(audit.events).toEqual([
      { kind: 'client_kicked', actor: { kind: 'user', subject: 'usr_1' }, accountId: 'acc_1', target: 'client:here', requestId: 'req_a', details: { reason_code: '0x98', kicked: 'true' } },
      { kind: 'client_kicked', actor: { kind: 'user', subject: 'usr_1' }, accountId: 'acc_1', target: 'client:gone', requestId: 'req_b', details: { reason_code: '0x87', kicked: 'false' } },
    ]);
  });

  it('cuts a long client id to the log’s 256 characters', () => {
    const event = clientKickedEvent({ admin: owner, accountId: 'acc_1', clientId: 'c'.repeat(70_000), reasonCode: 0x98, kicked: true, requestId: 'req_1' });
    expect(event.target).toHaveLength(256);
    expect(event.target.startsWith('client:ccc')).toBe(true);
  });
});
