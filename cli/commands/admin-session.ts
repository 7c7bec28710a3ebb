import { timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import type { MeshEnv } from '../mesh-config.ts';
import { AppError } from '#libs/errors/index.ts';
import { createRpcClient, type ServiceClient } from '#libs/rpc/index.ts';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { UsageError, type Output } from '../output.ts';
import { clientTls, resolveCliToken, serviceAddress } from '../endpoints.ts';

/** What every administrative command receives from cli/main.ts. */
export interface AdminArgs {
  positionals: string[];
  flags: Record<string, string | string[] | boolean | undefined>;
  env: MeshEnv;
  envToken: string | undefined;
  out: Output;
  readStdin(): Promise<string>;
  /** A service credential from the mesh secret key (operator verbs such as `keys rotate`). */
  serviceCredential(): string;
}

export const iso = (t: Timestamp | undefined) => (t ? new Date(timestampMs(t)).toISOString() : null);

/** A string flag's value; `required` makes a missing one a usage error naming it. */
export function str(flags: AdminArgs['flags'], name: string, required = false): string | undefined {
  const v = flags[name];
  if (typeof v === 'string' && v.length) return v;
  if (required) throw new UsageError(`--${name} is required`);
  return undefined;
}

export const unknownCommand = (args: AdminArgs) => new UsageError(`unknown command '${args.positionals.join(' ')}' (try --help)`);

/** The caller's credential and clients of authz and identity, for one command. */
export interface AdminSession {
  token: string;
  auth: { headers: { authorization: string } };
  tls: ReturnType<typeof clientTls>;
  authz: ServiceClient<typeof AuthzService>;
  identity: ServiceClient<typeof IdentityService>;
  /** The account of the caller's credential (the default for `--account`). */
  callerAccount(): Promise<string>;
}

/**
 * Runs one command with a session: the CLI token resolved (unless `tokenless`: operator verbs that
 * carry a service credential instead), authz and identity clients opened, and closed after.
 */
export async function withAdminSession(args: AdminArgs, run: (session: AdminSession) => Promise<number>, options: { tokenless?: boolean } = {}): Promise<number> {
  const flagToken = args.flags.token;
  const token = options.tokenless ? '' : resolveCliToken(args.env, typeof flagToken === 'string' ? flagToken : undefined, args.envToken);
  const auth = { headers: { authorization: `Bearer ${token}` } };
  const tls = clientTls(args.env);
  const authz = createRpcClient(AuthzService, serviceAddress(args.env, 'authz'), { tls });
  const identity = createRpcClient(IdentityService, serviceAddress(args.env, 'identity'), { tls });
  const callerAccount = async (): Promise<string> => {
    const who = await authz.authenticate({ bearer: token });
    if (!who.allowed || !who.principal) throw new AppError('UNAUTHENTICATED', `the credential was refused: ${who.reason}`, { reason: who.reason });
    return who.principal.accountId;
  };
  try {
    return await run({ token, auth, tls, authz, identity, callerAccount });
  } finally {
    authz.close();
    identity.close();
  }
}
