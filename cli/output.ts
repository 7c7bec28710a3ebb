import { isAppError } from '#libs/errors/index.ts';

/** How every verb prints: a JSON object with --json, else human lines. */
export interface Output {
  json: boolean;
  result(value: Record<string, unknown>, human: () => string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    result(value, human) {
      process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${human()}\n`);
    },
  };
}

/** One line, no stack trace for expected errors; exit code 1 (2 for usage). */
export function failure(error: unknown, json: boolean): number {
  const usage = (error as { usage?: boolean }).usage === true;
  const message = isAppError(error) ? error.publicMessage === 'internal error' ? error.message : error.publicMessage : error instanceof Error ? error.message : String(error);
  const code = isAppError(error) ? error.code : usage ? 'USAGE' : 'ERROR';
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
  process.stderr.write(`tollgate: ${message}\n`);
  return usage ? 2 : 1;
}

export class UsageError extends Error {
  readonly usage = true;
}
