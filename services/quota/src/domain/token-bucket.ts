/**
 * A token bucket: `capacity` tokens, refilled at `ratePerMs`. State is two numbers; time is passed
 * in (no clock here). Fractions are kept: a bucket refilling 1,000 per minute gains 1/60 per second.
 */
export interface Bucket {
  tokens: number;
  updatedAtMs: number;
}

export function newBucket(capacity: number, nowMs: number): Bucket {
  return { tokens: capacity, updatedAtMs: nowMs };
}

export function refill(bucket: Bucket, capacity: number, ratePerMs: number, nowMs: number): void {
  if (nowMs > bucket.updatedAtMs) {
    bucket.tokens = Math.min(capacity, bucket.tokens + (nowMs - bucket.updatedAtMs) * ratePerMs);
    bucket.updatedAtMs = nowMs;
  }
}

/** Milliseconds until `amount` tokens are available (0 if they are). */
export function waitMs(bucket: Bucket, amount: number, ratePerMs: number): number {
  if (bucket.tokens >= amount) return 0;
  return ratePerMs > 0 ? Math.ceil((amount - bucket.tokens) / ratePerMs) : Number.POSITIVE_INFINITY;
}
