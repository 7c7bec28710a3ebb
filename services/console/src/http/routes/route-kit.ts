import type { ZodType } from 'zod';
import { Problem } from '../api-schemas.ts';

/** Shorthands for route definitions: the same few responses on every operation. */
export const ok = <T extends ZodType>(schema: T, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
export const jsonBody = <T extends ZodType>(schema: T) => ({ required: true, content: { 'application/json': { schema } } });

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: Problem } } });
export const problems = {
  400: problem('invalid input; `field` names the field at fault'),
  401: problem('no credential, or the credential was refused'),
  403: problem('the service refused the caller this operation'),
  404: problem('not found, or not visible to the caller'),
} as const;

/** A service page token passed through as an opaque cursor. */
export const nextCursor = (token: string): string | null => token || null;
