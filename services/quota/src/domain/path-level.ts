import type { Limit } from './limits.ts';

export interface Clock {
  nowMs(): number;
}

/** One level of an account path, root first: the limits set on that account (not inherited). */
export interface PathLevel {
  accountId: string;
  limits: readonly Limit[];
}
