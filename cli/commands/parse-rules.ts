import { invalidArgument } from '#libs/errors/index.ts';
import { Effect } from '#gen/tollgate/authz/v1/authz_pb.js';

/** ACL rules as JSON (`[{effect, actions, resources}]` or `{rules: […]}`), as `token create` and `client` read them. */
export function parseRules(text: string): { effect: Effect; actions: string[]; resources: string[] }[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidArgument('rules', 'must be a JSON array of {effect, actions, resources}');
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { rules?: unknown }).rules;
  if (!Array.isArray(list)) throw invalidArgument('rules', 'must be a JSON array of {effect, actions, resources}');
  return list.map((r: { effect?: string; actions?: string[]; resources?: string[] }, i) => {
    if (r.effect !== 'allow' && r.effect !== 'deny') throw invalidArgument(`rules[${i}].effect`, 'must be allow or deny');
    return { effect: r.effect === 'allow' ? Effect.ALLOW : Effect.DENY, actions: r.actions ?? [], resources: r.resources ?? [] };
  });
}
