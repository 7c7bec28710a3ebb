/**
 * What authz's per-account decision tally (GetDecisionStats) adds to recording a decision:
 * `DecisionLog.record` with the tally against the same log with the tally switched off, both with
 * the OpenTelemetry SDK meter authz uses in production, alternating runs, CPU time per record.
 *
 *   npm run bench -- decision-tally        (ends by itself in a few seconds)
 *
 * 1,000 accounts, 90 % allowed, denials over three reasons.
 */
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { DecisionLog, type DecisionRecord } from '../../services/authz/src/decision-log.ts';

const ACCOUNTS = Array.from({ length: 1_000 }, (_, i) => `acc_${i.toString(36).padStart(22, '0')}`);
const REASONS = ['NO_MATCHING_RULE', 'DENIED_BY_RULE', 'KIND_NOT_ALLOWED'];

function nsPerRecord(log: DecisionLog, n: number): number {
  const d: DecisionRecord = { atMs: 0, allowed: true, reason: 'ALLOWED', action: 'publish', resource: 'mqtt:a/b', accountId: '', subject: 'tok_x', clientId: 'c1', peerIp: '', source: 'grpc' };
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    d.accountId = ACCOUNTS[i % ACCOUNTS.length]!;
    d.allowed = i % 10 !== 0;
    d.reason = d.allowed ? 'ALLOWED' : REASONS[i % 3]!;
    log.record(d);
  }
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1_000) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

export async function runDecisionTallyBench(): Promise<void> {
  const provider = new MeterProvider();
  const tallied = new DecisionLog({ meter: provider.getMeter('tallied') });
  const plain = new DecisionLog({ meter: provider.getMeter('plain') });
  // The same log without the tally: its count is a no-op.
  plain.tallies.countDecision = () => {};
  nsPerRecord(tallied, 200_000);
  nsPerRecord(plain, 200_000);
  const withTally: number[] = [];
  const without: number[] = [];
  for (let round = 0; round < 7; round++) {
    withTally.push(nsPerRecord(tallied, 300_000));
    without.push(nsPerRecord(plain, 300_000));
  }
  const [a, b] = [median(withTally), median(without)];
  process.stdout.write(`| DecisionLog.record | CPU ns/record (median of 7) |\n|---|---|\n| with the per-account tally | ${a.toFixed(0)} |\n| without | ${b.toFixed(0)} |\n`);
  process.stdout.write(`tally adds ${(a - b).toFixed(0)} ns per decision (ratio ${(a / b).toFixed(2)}); runs with=${withTally.map((x) => x.toFixed(0)).join(',')} without=${without.map((x) => x.toFixed(0)).join(',')}\n`);
  await provider.shutdown();
}

if (import.meta.url === `file://${process.argv[1]}`) await runDecisionTallyBench();
