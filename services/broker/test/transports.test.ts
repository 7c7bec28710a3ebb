import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { startBroker, collect, waitFor, type TestBroker } from './harness.ts';

let tb: TestBroker | undefined;
let dir: string;
let cert: Buffer;
let key: Buffer;

beforeAll(() => {
  // A throwaway self-signed cert, made at test time so no key is committed.
  dir = mkdtempSync(join(tmpdir(), 'tollgate-broker-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  cert = readFileSync(join(dir, 'cert.pem'));
  key = readFileSync(join(dir, 'key.pem'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

describe('transports', () => {
  it.each([4, 5] as const)('TLS and WebSocket clients talk to TCP clients (v%i)', async (protocolVersion) => {
    tb = await startBroker({ tls: { host: '127.0.0.1', port: 0, cert, key }, ws: { host: '127.0.0.1', port: 0 } });
    const opts = { username: 'alice', password: 'pw-a', reconnectPeriod: 0, protocolVersion };
    const overTls = await mqtt.connectAsync(`mqtts://127.0.0.1:${tb.tlsPort}`, { ...opts, ca: cert, servername: 'localhost' });
    const overWs = await mqtt.connectAsync(`ws://127.0.0.1:${tb.wsPort}/mqtt`, opts);
    const overTcp = await tb.connect({ protocolVersion });
    const gotTls = collect(overTls);
    const gotWs = collect(overWs);
    await overTls.subscribeAsync('x/#', { qos: 1 });
    await overWs.subscribeAsync('x/#', { qos: 2 });
    await overTcp.publishAsync('x/1', 'hello', { qos: 1 });
    await overWs.publishAsync('x/2', 'from-ws', { qos: 2 });
    await waitFor(() => gotTls.length === 2 && gotWs.length === 2);
    expect(gotTls.map((g) => g.payload).sort()).toEqual(['from-ws', 'hello']);
    expect(tb.broker.clients().map((c) => c.transport).sort()).toEqual(['tcp', 'tls', 'ws']);
    await overTls.endAsync();
    await overWs.endAsync();
  });

  it('TLS below 1.2 is refused', async () => {
    tb = await startBroker({ tls: { host: '127.0.0.1', port: 0, cert, key } });
    const err = await new Promise<Error | undefined>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: tb!.tlsPort!, ca: cert, servername: 'localhost', maxVersion: 'TLSv1.1', minVersion: 'TLSv1' });
      s.once('secureConnect', () => {
        s.destroy();
        resolve(undefined);
      });
      s.once('error', (e) => resolve(e));
    });
    expect(err).toBeInstanceOf(Error);
  });
});
