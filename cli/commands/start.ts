import type { StartableService } from '#libs/config/index.ts';
import type { MeshConfig } from '../mesh-config.ts';
import type { Output } from '../output.ts';
import pino from 'pino';
import { createLogger } from '#libs/telemetry/index.ts';
import { startMesh } from '../mesh.ts';
import { isWorkerProcess, reportToPrimary, superviseWorkers } from '../workers.ts';

/** `tollgate start`: runs until SIGINT/SIGTERM, then stops gracefully. */
export async function runStart(config: MeshConfig, options: { service: StartableService | undefined; out: Output; explicitEnv: ReadonlySet<string>; workers?: number }): Promise<number> {
  if ((options.workers ?? 1) > 1 && !isWorkerProcess()) return superviseWorkers(options.workers!, options.out, options.service!);
  const worker = isWorkerProcess();
  const started = Date.now();
  // In development, an MQTT port left at its default but held by another broker is swapped for a
  // free one (and said so); a port the operator set is never changed.
  const fallback = config.common.env === 'development' && !['TOLLGATE_MQTT_PORT', 'TOLLGATE_MQTTS_PORT', 'TOLLGATE_MQTT_WS_PORT'].some((k) => options.explicitEnv.has(k));
  // With --json, stdout carries the one JSON summary line (and nothing else): logs go to stderr.
  const logger = options.out.json ? createLogger({ level: config.common.logLevel, name: config.only ?? 'tollgate', destination: pino.destination(2) }) : undefined;
  const mesh = await startMesh(config, { mqttDefaultPortFallback: fallback, ...(logger ? { logger } : {}) }).catch((error: unknown) => {
    if (worker) reportToPrimary({ ready: false, error: describeError(error) });
    throw error;
  });
  const summary = {
    services: mesh.services.map((s) => ({ name: s.name, grpc: s.grpcAddress, http: s.httpAddress ?? null })),
    console: mesh.console?.httpAddress ?? null,
    mqtt: mesh.broker ? mesh.broker.mqttAddresses() : null,
    database: mesh.database?.kind ?? null,
    migrations_applied: mesh.migrations.flatMap((m) => m.applied.map((a) => `${m.schema}/${a}`)),
    bootstrap: mesh.bootstrap?.created ? { ...mesh.bootstrap.credentials, file: mesh.bootstrap.file } : mesh.bootstrap ? { file: mesh.bootstrap.file } : null,
    notes: mesh.notes,
    started_in_ms: Date.now() - started,
  };
  if (worker) reportToPrimary({ ready: true, summary: { ...summary, pid: process.pid } });
  else options.out.result(summary, () => {
    const lines = ['Tollgate is running', ''];
    for (const s of summary.services) lines.push(`  ${s.name.padEnd(9)} gRPC ${s.grpc}${s.http ? `   HTTP ${s.http}` : ''}`);
    if (summary.mqtt) {
      const m = summary.mqtt;
      lines.push(`  mqtt      ${m.tcp ? `mqtt://${m.tcp}` : ''}${m.tls ? `   mqtts://${m.tls}` : '   (MQTTS off: set TOLLGATE_MQTT_TLS_CERT/KEY)'}${m.ws ? `   ws://${m.ws}` : ''}`);
    }
    if (summary.console) lines.push(`  console   ${summary.console}`);
    if (summary.database) lines.push('', `  database: ${summary.database}${summary.migrations_applied.length ? ` (applied ${summary.migrations_applied.length} migrations)` : ''}`);
    if (mesh.bootstrap?.created && mesh.bootstrap.credentials) {
      const c = mesh.bootstrap.credentials;
      lines.push(
        '',
        'First start: created the root account and an admin. Shown once; also in ' + mesh.bootstrap.file + ' (mode 0600):',
        `  account:      ${c.account_id}`,
        `  username:     ${c.username}`,
        `  password:     ${c.password}`,
        `  master token: ${c.master_token}`,
      );
    } else if (mesh.bootstrap) {
      lines.push('', `  bootstrap credentials: ${mesh.bootstrap.file}`);
    }
    for (const note of summary.notes) lines.push('', `  note: ${note}`);
    lines.push('', `ready in ${summary.started_in_ms} ms — Ctrl+C to stop`);
    return lines.join('\n');
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await mesh.stop();
  return 0;
}

/** A start-up failure in one line, with its cause (a driver error says what the query met). */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  return cause && !error.message.includes(cause) ? `${error.message.split('\n')[0]}: ${cause}` : error.message;
}
