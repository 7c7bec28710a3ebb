import { invalidArgument } from '#libs/errors/index.ts';

/** What can be limited, and how. */
export type LimitKind = 'rate' | 'volume' | 'concurrency' | 'count';
export type Period = 'second' | 'minute' | 'day' | 'month';

export interface MetricSpec {
  kinds: readonly LimitKind[];
  /** Periods allowed per kind (rate: second|minute; volume: day|month). */
  periods: Partial<Record<LimitKind, readonly Period[]>>;
}

const RATE: readonly Period[] = ['second', 'minute'];
const VOLUME: readonly Period[] = ['day', 'month'];

export const metricCatalogue: Readonly<Record<string, MetricSpec>> = Object.freeze({
  'mqtt.messages.in': { kinds: ['rate', 'volume'], periods: { rate: RATE, volume: VOLUME } },
  'mqtt.bytes.in': { kinds: ['rate', 'volume'], periods: { rate: RATE, volume: VOLUME } },
  'mqtt.messages.out': { kinds: ['rate'], periods: { rate: RATE } },
  'mqtt.connects': { kinds: ['rate'], periods: { rate: RATE } },
  'api.requests': { kinds: ['rate', 'volume'], periods: { rate: RATE, volume: VOLUME } },
  'mqtt.connections': { kinds: ['concurrency'], periods: {} },
  'mqtt.subscriptions': { kinds: ['concurrency'], periods: {} },
  // Retained topics an account may hold on the broker; the edge reads the effective value (broker README, Quota).
  'mqtt.retained': { kinds: ['count'], periods: {} },
  tokens: { kinds: ['count'], periods: {} },
  subaccounts: { kinds: ['count'], periods: {} },
  users: { kinds: ['count'], periods: {} },
});

export function metricSpec(metric: string, field = 'metric'): MetricSpec {
  const spec = metricCatalogue[metric];
  if (!spec) throw invalidArgument(field, `unknown metric; known: ${Object.keys(metricCatalogue).join(', ')}`);
  return spec;
}

export const periodMs: Readonly<Record<'second' | 'minute', number>> = { second: 1_000, minute: 60_000 };
