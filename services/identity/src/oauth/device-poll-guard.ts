import { createHash } from 'node:crypto';
import type { Clock } from '../domain/ports.ts';

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8628 §3.2: the default polling interval, and §3.5: each slow_down adds 5 seconds. */
const DEFAULT_INTERVAL_MS = 5_000;
const SLOW_DOWN_STEP_MS = 5_000;
const MAX_TRACKED = 50_000;

interface KoaLike {
  oidc?: { params?: Record<string, unknown> };
  body?: unknown;
  status: number;
}

/**
 * RFC 8628 §3.5 `slow_down`, which oidc-provider does not send: a device polling the token
 * endpoint faster than its interval gets `slow_down` instead of `authorization_pending`, and its
 * interval grows by 5 s for every later poll. Kept per replica (a device polls one address; a
 * poll that lands elsewhere is at worst answered `authorization_pending`).
 */
export function createDevicePollGuard(clock: Clock, ttlMs: number) {
  const polls = new Map<string, { lastMs: number; intervalMs: number }>();
  return async function devicePollGuard(ctx: KoaLike, next: () => Promise<unknown>): Promise<void> {
    await next();
    const params = ctx.oidc?.params;
    if (params?.['grant_type'] !== DEVICE_CODE_GRANT || typeof params['device_code'] !== 'string') return;
    const body = ctx.body as { error?: string } | undefined;
    if (body?.error !== 'authorization_pending' && body?.error !== 'slow_down') return;
    const key = createHash('sha256').update(params['device_code']).digest('base64url');
    const nowMs = clock.nowMs();
    const seen = polls.get(key);
    if (!seen) {
      if (polls.size >= MAX_TRACKED) for (const [k, v] of polls) if (nowMs - v.lastMs > ttlMs) polls.delete(k);
      polls.set(key, { lastMs: nowMs, intervalMs: DEFAULT_INTERVAL_MS });
      return;
    }
    const tooSoon = nowMs - seen.lastMs < seen.intervalMs;
    seen.lastMs = nowMs;
    if (tooSoon) {
      seen.intervalMs += SLOW_DOWN_STEP_MS;
      ctx.status = 400;
      ctx.body = { error: 'slow_down', error_description: `polling too fast: wait at least ${seen.intervalMs / 1000} s between requests` };
    }
  };
}
