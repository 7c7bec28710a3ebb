import type { Limit } from './limits.ts';

/** The mesh's one clock port (libs/clock). */
export type { Clock } from '#libs/clock/index.ts';

/** One level of an account path, root first: the limits set on that account (not inherited). */
export interface PathLevel {
  accountId: string;
  limits: readonly Limit[];
}
