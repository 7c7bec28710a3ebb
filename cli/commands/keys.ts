import { unknownCommand, withAdminSession, type AdminArgs } from './admin-session.ts';

/** `tollgate keys rotate`: an operator verb, under a service credential from the mesh secret key. */
export async function runKeys(args: AdminArgs): Promise<number> {
  const [, verb] = args.positionals;
  return withAdminSession(
    args,
    async ({ identity }) => {
      if (verb !== 'rotate') throw unknownCommand(args);
      const res = await identity.rotateSigningKey({}, { headers: { authorization: `Bearer ${args.serviceCredential()}` } });
      args.out.result({ kid: res.kid, retired_kids: res.retiredKids }, () => `new signing key ${res.kid}; older keys stay in the JWKS until their tokens expire`);
      return 0;
    },
    { tokenless: true },
  );
}
