/**
 * The one clock port of the mesh: every decision that depends on the time reads it from an
 * injected `Clock` (tests move a fake one; nothing sleeps through a real window). Timers and
 * network deadlines (libs/rpc) stay on the runtime's own clock.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  nowMs(): number;
}

/** The process clock (`Date.now()`). */
export const systemClock: Clock = { nowMs: () => Date.now() };
