/**
 * `createBroker`: the MQTT edge over TCP, TLS and WebSocket around one BrokerCore. Wiring to
 * authz and quota happens through the ports in `domain/ports.ts` (see app.ts).
 */
import type { AccountStats } from './domain/account-tally.ts';
import net from 'node:net';
import tls from 'node:tls';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { BrokerCore } from './broker-core.ts';
import { resolveBrokerOptions, type BrokerOptions } from './broker-options.ts';
import { Connection, type TransportKind } from './connection.ts';
import { CountingMetrics } from './adapters/counting-metrics.ts';
import { systemClock } from './adapters/system-clock.ts';
import { RC } from './domain/reason-codes.ts';
import type { MqttProtocol } from './domain/ports.ts';

export type { BrokerOptions } from './broker-options.ts';

export interface BoundAddress {
  host: string;
  port: number;
}

export interface ClientInfo {
  clientId: string;
  account: string;
  subject: string;
  /** An OAuth access token's grant (`grt_…`), when the client presented one. */
  grantId?: string;
  protocol: MqttProtocol;
  transport: TransportKind;
  peerIp: string;
  connectedAtMs: number;
  subscriptions: number;
  inflight: number;
  queued: number;
}

export interface Broker {
  listen(): Promise<{ tcp?: BoundAddress; tls?: BoundAddress; ws?: BoundAddress }>;
  close(): Promise<void>;
  clients(): ClientInfo[];
  /** Disconnects the client id (in every account, or in `account`): v5 DISCONNECT `reasonCode`. Answers how many. */
  kick(clientId: string, reasonCode?: number, account?: string): number;
  disconnectWhere(predicate: (client: ClientInfo) => boolean, reasonCode?: number): number;
  /** Drops cached credential decisions (authz invalidation feed). */
  dropAuthCache(): void;
  /** `credentialCounters`: addresses and usernames the credential-failure throttle holds (bounded). */
  stats(): { connections: number; sessions: number; credentialCounters: number };
  /** This edge's figures for the sessions and traffic of `accounts` (an account and its subaccounts). */
  accountStats(accounts: ReadonlySet<string>): AccountStats;
  /** Serves one MQTT connection over any duplex stream (an in-memory pair in tests). */
  handle(stream: Duplex, peerIp?: string): void;
}

export function createBroker(options: BrokerOptions): Broker {
  const resolved = resolveBrokerOptions(options);
  const core = new BrokerCore(resolved, options.clock ?? systemClock, options.metrics ?? new CountingMetrics());
  core.cluster = options.cluster?.attach(core);
  const servers: Array<net.Server | http.Server> = [];
  let wss: WebSocketServer | undefined;
  let sweep: NodeJS.Timeout | undefined;

  function accept(stream: Duplex, transport: TransportKind, peerIp: string): void {
    // Plain TCP sockets come with Nagle off already (the server's `noDelay`): one syscall less per connect.
    if (transport !== 'tcp' && stream instanceof net.Socket) stream.setNoDelay(true);
    if (!core.admitPending(peerIp)) {
      core.metrics.count('pending_connects_refused');
      stream.destroy();
      return;
    }
    const conn = new Connection(core, stream, transport, peerIp);
    core.connections.add(conn);
    core.metrics.count('connections_opened');
  }

  function info(conn: Connection): ClientInfo {
    const s = conn.session!;
    return {
      clientId: s.clientId,
      account: s.account,
      subject: s.principal.subject,
      ...(s.principal.grantId ? { grantId: s.principal.grantId } : {}),
      protocol: conn.protocol,
      transport: conn.transport,
      peerIp: conn.peerIp,
      connectedAtMs: conn.connectedAtMs,
      subscriptions: s.subscriptions.size,
      inflight: s.inflight.size,
      queued: s.queue.length,
    };
  }

  function connected(): Connection[] {
    return [...core.connections].filter((c) => c.connected && !c.closed && c.session);
  }

  function bind(server: net.Server | http.Server, address: { host?: string; port?: number }): Promise<BoundAddress> {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port ?? 0, address.host ?? '0.0.0.0', () => {
        server.off('error', reject);
        const a = server.address() as AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  return {
    async listen() {
      const result: { tcp?: BoundAddress; tls?: BoundAddress; ws?: BoundAddress } = {};
      if (resolved.tcp !== false) {
        const server = net.createServer({ noDelay: true }, (socket) => accept(socket, 'tcp', socket.remoteAddress ?? ''));
        servers.push(server);
        result.tcp = await bind(server, resolved.tcp ?? { port: 1883 });
      }
      if (resolved.tls) {
        const t = resolved.tls;
        const server = tls.createServer(
          { cert: t.cert, key: t.key, ...(t.ca ? { ca: t.ca } : {}), minVersion: 'TLSv1.2' },
          (socket) => accept(socket, 'tls', socket.remoteAddress ?? ''),
        );
        server.on('tlsClientError', () => {});
        servers.push(server);
        result.tls = await bind(server, t);
      }
      if (resolved.ws) {
        const server = http.createServer((_req, res) => {
          res.writeHead(426).end('MQTT over WebSocket only');
        });
        wss = new WebSocketServer({
          server,
          ...(resolved.ws.path ? { path: resolved.ws.path } : {}),
          maxPayload: resolved.maxPacketSizeBytes + 8,
          handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
        });
        wss.on('connection', (ws, req) => {
          const stream = createWebSocketStream(ws);
          stream.on('error', () => stream.destroy());
          accept(stream, 'ws', req.socket.remoteAddress ?? '');
        });
        servers.push(server);
        result.ws = await bind(server, resolved.ws);
      }
      sweep = setInterval(() => core.sweep(), resolved.sweepIntervalMs);
      sweep.unref();
      return result;
    },

    async close() {
      if (sweep) clearInterval(sweep);
      for (const conn of [...core.connections]) {
        if (conn.connected) conn.disconnect(RC.serverShuttingDown);
        conn.destroy();
      }
      wss?.close();
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              if ('closeAllConnections' in s) s.closeAllConnections();
            }),
        ),
      );
      servers.length = 0;
    },

    clients: () => connected().map(info),

    kick(clientId, reasonCode = RC.administrativeAction, account) {
      let n = 0;
      for (const conn of connected()) {
        const s = conn.session!;
        if (s.clientId === clientId && (account === undefined || s.account === account)) {
          conn.disconnect(reasonCode);
          n++;
        }
      }
      return n;
    },

    disconnectWhere(predicate, reasonCode = RC.administrativeAction) {
      let n = 0;
      for (const conn of connected()) {
        if (predicate(info(conn))) {
          conn.disconnect(reasonCode);
          n++;
        }
      }
      return n;
    },

    dropAuthCache: () => core.dropAuthCache(),
    stats: () => ({ connections: connected().length, sessions: core.sessions.size, credentialCounters: core.credentialThrottle?.size ?? 0 }),
    accountStats: (accounts) => core.accountStats(accounts),
    handle: (stream, peerIp = '127.0.0.1') => accept(stream, 'memory', peerIp),
  };
}
