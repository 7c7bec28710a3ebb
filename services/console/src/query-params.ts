import { z } from 'zod';
import { invalidArgument } from '#libs/errors/index.ts';
import { isWellFormedText } from '#libs/rpc/request-text.ts';

/**
 * The console API's query parameters, validated before anything is asked of a service: a bad
 * value is a 400 problem+json naming the parameter, never a 500 from an encoder further down.
 */
const accountId = z.string().regex(/^acc_[0-9a-z]{20}$/, { message: 'must be an account id (acc_…)' });
const limit = (max: number) =>
  z
    .string()
    .regex(/^\d{1,6}$/, { message: `must be a whole number from 1 to ${max}` })
    .transform(Number)
    .refine((n) => n >= 1 && n <= max, { message: `must be a whole number from 1 to ${max}` });

export const decisionsQuery = z.object({
  account_id: accountId.optional(),
  denials_only: z.enum(['true', 'false'], { message: 'must be true or false' }).optional(),
  limit: limit(1_000).optional(),
});

export const clientsQuery = z.object({ account_id: accountId.optional() });

export const tracesQuery = z.object({
  trace_id: z.string().regex(/^[0-9a-f]{32}$/, { message: 'must be 32 lower-case hex digits (a W3C trace id)' }).optional(),
  limit: limit(2_000).optional(),
});

/** Parses `query` (one value per name) or throws INVALID_ARGUMENT naming the first bad parameter. */
export function parseQuery<S extends z.ZodType>(schema: S, query: Record<string, string>): z.infer<S> {
  for (const [name, value] of Object.entries(query)) {
    if (!isWellFormedText(name) || !isWellFormedText(value)) throw invalidArgument(isWellFormedText(name) ? name : 'query', 'must not contain NUL or invalid Unicode');
  }
  const parsed = schema.safeParse(query);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw invalidArgument(String(issue.path[0] ?? 'query'), issue.message);
}
