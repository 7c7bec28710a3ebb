import { z } from 'zod';
import { AppError } from '#libs/errors/index.ts';

/** Every problem of a configuration, reported together. */
export class ConfigError extends AppError {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super('INVALID_ARGUMENT', `invalid configuration: ${problems.join('; ')}`, { reason: 'CONFIG_INVALID' });
    this.name = 'ConfigError';
    this.problems = Object.freeze([...problems]);
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Parses `env` with a zod object whose keys are environment variable names; the result is frozen.
 * Empty strings count as unset. Every problem is listed, not just the first. Values never appear in
 * messages (they may be secrets): only the variable name and what it expects.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, env: Env): Readonly<z.infer<S>> {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') cleaned[key] = value.trim();
  }
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`);
    throw new ConfigError(problems);
  }
  return deepFreeze(result.data);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** A TCP port; 0 picks a free one. */
export const port = (fallback: number) =>
  z
    .string()
    .regex(/^\d{1,5}$/, { message: 'expected a port number 0-65535' })
    .transform(Number)
    .refine((n) => n <= 65_535, { message: 'expected a port number 0-65535' })
    .default(fallback);

export const host = (fallback: string) => z.string().regex(/^[A-Za-z0-9.:_-]+$/, { message: 'expected a host name or IP address' }).default(fallback);

export const positiveInt = (fallback: number, unit: string) =>
  z
    .string()
    .regex(/^\d+$/, { message: `expected a whole number of ${unit}` })
    .transform(Number)
    .refine((n) => n > 0 && Number.isSafeInteger(n), { message: `expected a positive whole number of ${unit}` })
    .default(fallback);

export const bool = (fallback: boolean) =>
  z
    .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'], { message: 'expected true or false' })
    .transform((v) => ['1', 'true', 'yes', 'on'].includes(v))
    .default(fallback);

/** A URL with a given protocol set; the message never repeats the value (it may hold a password). */
export const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    },
    { message: `expected a ${protocols.join(' or ')} URL` },
  );

export const databaseUrl = url(['postgres', 'postgresql']);

export const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');

/** A duration such as `90s`, `15m`, `6h`, `30d` or plain milliseconds; parsed to milliseconds. */
export const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      const ms = parseDurationMs(v);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: 'expected a duration like 90s, 15m, 6h or 30d' });
        return z.NEVER;
      }
      return ms;
    });

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDurationMs(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]) * UNIT_MS[match[2] ?? 'ms']!;
  return Number.isSafeInteger(value) ? value : undefined;
}
