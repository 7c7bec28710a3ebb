import { z } from 'zod';
import { AppError } from '#libs/errors/index.ts';

/** Every problem of a configuration, reported together. */
export class ConfigError extends AppError {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    // One problem already names its variable and what it expects; several are listed together.
    super('INVALID_ARGUMENT', problems.length === 1 ? problems[0]! : `invalid configuration (${problems.length} problems): ${problems.join('; ')}`, { reason: 'CONFIG_INVALID' });
    this.name = 'ConfigError';
    this.problems = Object.freeze([...problems]);
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * A check across settings (TLS certificate and key both set, ports distinct, …): the problems it
 * finds, each naming its variables. It sees every setting that parsed — settings with a problem of
 * their own are absent — so it is reported together with those problems.
 */
export type CrossCheck<T> = (values: Partial<T>) => string[];

/**
 * Parses `env` with a zod object whose keys are environment variable names; the result is frozen.
 * Empty strings count as unset. Every problem is listed, not just the first, the cross-field
 * `checks` included. Values never appear in messages (they may be secrets): only the variable name
 * and what it expects.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, env: Env, checks?: CrossCheck<z.infer<S>>): Readonly<z.infer<S>> {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') cleaned[key] = value.trim();
  }
  const result = schema.safeParse(cleaned);
  const problems = result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`);
  if (checks) problems.push(...checks(parsedFields(schema, cleaned)));
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
  return deepFreeze(result.data!);
}

/**
 * The settings that parse on their own (what a cross-field check may still judge when others fail):
 * every key of the schema, unset ones with their default or undefined; one with a problem is absent.
 */
function parsedFields<S extends z.ZodObject>(schema: S, cleaned: Record<string, string>): Partial<z.infer<S>> {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    const parsed = field.safeParse(cleaned[key]);
    if (parsed.success) out[key] = parsed.data;
  }
  return out as Partial<z.infer<S>>;
}

/** `A and B: set both or neither` when exactly one of a pair (a certificate and its key) is set. */
export function bothOrNeither(values: Readonly<Record<string, unknown>>, a: string, b: string): string[] {
  return (values[a] === undefined) === (values[b] === undefined) ? [] : [`${a} and ${b}: set both or neither`];
}

/**
 * Ports that would collide: every named port that is set, not 0 (a free one) and taken by an
 * earlier name. Names whose value is absent (unset or invalid) are skipped.
 */
export function distinctPorts(values: Readonly<Record<string, unknown>>, names: readonly string[]): string[] {
  const owner = new Map<number, string>();
  const problems: string[] = [];
  for (const name of names) {
    const port = values[name];
    if (typeof port !== 'number' || port === 0) continue;
    const first = owner.get(port);
    if (first) problems.push(`${name}: port ${port} is already ${first}'s (each port once)`);
    else owner.set(port, name);
  }
  return problems;
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
