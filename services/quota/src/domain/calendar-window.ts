/** Start (inclusive) and end (exclusive) of the UTC calendar window containing `nowMs`. */
export function calendarWindow(period: 'day' | 'month', nowMs: number): { startMs: number; endMs: number } {
  const d = new Date(nowMs);
  if (period === 'day') {
    const startMs = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    return { startMs, endMs: startMs + 86_400_000 };
  }
  const startMs = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  return { startMs, endMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}
