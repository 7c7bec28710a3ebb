import { describe, expect, it } from 'vitest';
import { silentLogger } from '#libs/telemetry/index.ts';
import { CountingMetrics } from '../adapters/counting-metrics.ts';
import { DecisionReporter } from './decision-reporter.ts';

const denial = (topic: string) => ({ action: 'publish' as const, topic, account: 'acc_1', subject: 'tok_1', clientId: 'c1', reason: 'NO_MATCHING_RULE' });

describe('DecisionReporter', () => {
  it('takes at most maxPerSecond a second, counts the rest as dropped and tells authz how many', async () => {
    let now = 1_000;
    const sent: { decisions: { resource: string }[]; dropped: bigint }[] = [];
    const metrics = new CountingMetrics();
    const reporter = new DecisionReporter({ authz: { reportDecisions: async (req: unknown) => (sent.push(req as never), { recorded: 0 }) } as never, metrics, logger: silentLogger(), maxPerSecond: 2, nowMs: () => now });
    for (const topic of ['a', 'b', 'c', 'd']) reporter.report(denial(topic));
    await reporter.flush();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.decisions.map((d) => d.resource)).toEqual(['a', 'b']);
    expect(sent[0]!.dropped).toBe(2n);
    expect(metrics.get('decisions_reported')).toBe(2);
    expect(metrics.get('decisions_report_dropped')).toBe(2);
    now += 1_000; // a new second: taken again
    reporter.report(denial('e'));
    await reporter.flush();
    expect(sent[1]!.decisions.map((d) => d.resource)).toEqual(['e']);
    expect(sent[1]!.dropped).toBe(0n);
  });

  it('a failed report is dropped and counted, never retried, and its drops are told with the next batch', async () => {
    let fail = true;
    const sent: { decisions: unknown[]; dropped: bigint }[] = [];
    const metrics = new CountingMetrics();
    const reporter = new DecisionReporter({
      authz: { reportDecisions: async (req: unknown) => { if (fail) throw new Error('UNAVAILABLE'); sent.push(req as never); return { recorded: 0 }; } } as never,
      metrics,
      logger: silentLogger(),
    });
    reporter.report(denial('a'));
    await reporter.flush();
    expect(metrics.get('decisions_report_dropped')).toBe(1);
    fail = false;
    reporter.report(denial('b'));
    await reporter.flush();
    expect(sent).toEqual([expect.objectContaining({ dropped: 1n })]);
    expect(sent[0]!.decisions).toHaveLength(1);
  });
});
