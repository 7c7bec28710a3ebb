import { failedPrecondition, invalidArgument } from '#libs/errors/index.ts';
import { metricSpec, type LimitKind, type Period } from './metrics.ts';

/** A limit attached to an account; it applies to the account's whole subtree. */
export interface Limit {
  metric: string;
  kind: LimitKind;
  /** -1 inherits the parent's value. */
  value: number;
  period: Period | undefined;
  /** Token-bucket burst (rate limits); defaults to the value. */
  burst: number | undefined;
  /** Count and report, never reject. */
  shadow: boolean;
}

export const limitKey = (metric: string, kind: LimitKind) => `${metric}|${kind}`;

/** Validates one limit, naming `limits[i].field`; returns it normalized. */
export function validateLimit(limit: Limit, at: string): Limit {
  const spec = metricSpec(limit.metric, `${at}.metric`);
  if (!spec.kinds.includes(limit.kind)) throw invalidArgument(`${at}.kind`, `${limit.metric} supports ${spec.kinds.join(', ')}`);
  if (!Number.isSafeInteger(limit.value) || limit.value < -1) throw invalidArgument(`${at}.value`, 'must be a whole number ≥ 0, or -1 to inherit');
  const periods = spec.periods[limit.kind];
  if (periods) {
    if (!limit.period || !periods.includes(limit.period)) throw invalidArgument(`${at}.period`, `${limit.kind} limits of ${limit.metric} are per ${periods.join(' or ')}`);
  } else if (limit.period) {
    throw invalidArgument(`${at}.period`, `${limit.kind} limits take no period`);
  }
  if (limit.burst !== undefined && (limit.kind !== 'rate' || !Number.isSafeInteger(limit.burst) || limit.burst < 1)) {
    throw invalidArgument(`${at}.burst`, 'only rate limits have a burst, a whole number ≥ 1');
  }
  return { ...limit, burst: limit.kind === 'rate' ? (limit.burst ?? (limit.value > 0 ? limit.value : undefined)) : undefined };
}

export interface EffectiveLimit {
  limit: Limit;
  /** The account the value comes from. */
  sourceAccountId: string;
}

/**
 * Effective limits along a path (root first): a child's -1 takes the nearest ancestor's value; a
 * metric without a limit anywhere is unlimited (absent).
 */
export function effectiveLimits(path: readonly { accountId: string; limits: readonly Limit[] }[]): Map<string, EffectiveLimit> {
  const out = new Map<string, EffectiveLimit>();
  for (const level of path) {
    for (const limit of level.limits) {
      const key = limitKey(limit.metric, limit.kind);
      if (limit.value === -1) continue; // inherit: keep the ancestor's entry
      out.set(key, { limit, sourceAccountId: level.accountId });
    }
  }
  return out;
}

/**
 * A child may never get more than its parent: a non-inheriting value above the parent's effective
 * value (same metric, kind and period) is refused, naming both values.
 */
export function assertWithinParent(limit: Limit, parentEffective: Map<string, EffectiveLimit>, at: string): void {
  if (limit.value === -1) return;
  const parent = parentEffective.get(limitKey(limit.metric, limit.kind));
  if (!parent) return;
  const p = parent.limit;
  if (p.period !== limit.period) {
    throw failedPrecondition(`${at}: the parent limits ${limit.metric} per ${p.period}; set the child per ${p.period} too`, { field: at });
  }
  if (limit.value > p.value) {
    throw failedPrecondition(`${at}.value: ${limit.value} is above the parent's ${p.value} (set on ${parent.sourceAccountId})`, {
      field: `${at}.value`,
      child_value: String(limit.value),
      parent_value: String(p.value),
    });
  }
}
