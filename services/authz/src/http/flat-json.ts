/** A foreign broker's request that is not what its contract says: the adapter's `MALFORMED_REQUEST`. */
export class MalformedRequest extends Error {}

/**
 * A JSON request body as the string map brokers template (EMQX, go-auth): an object whose values
 * are strings, numbers, booleans or null (null → ''). Anything else is a MalformedRequest.
 */
export function flatJsonObject(text: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new MalformedRequest('body is not JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new MalformedRequest('body must be a JSON object');
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (v !== null && typeof v === 'object') throw new MalformedRequest(`${k} must be a string or a number`);
    fields[k] = v === null || v === undefined ? '' : String(v);
  }
  return fields;
}
