import { AppError } from '#libs/errors/index.ts';
import { createRpcClient } from '#libs/rpc/index.ts';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { UsageError } from '../output.ts';
import { clientTls, serviceAddress } from '../endpoints.ts';
import { iso, str, type AdminArgs } from './admin-session.ts';

/** `tollgate login USERNAME` (password on stdin): prints the session's tokens. */
export async function runLogin(args: AdminArgs): Promise<number> {
  const username = args.positionals[1];
  if (!username) throw new UsageError('usage: tollgate login USERNAME  (password on stdin) [--account ID] [--totp CODE]');
  const password = (await args.readStdin()).replace(/\r?\n$/, '');
  const identity = createRpcClient(IdentityService, serviceAddress(args.env, 'identity'), { tls: clientTls(args.env) });
  try {
    const res = await identity.login({ username, password, accountId: str(args.flags, 'account') ?? '', totpCode: str(args.flags, 'totp') ?? '' });
    if (!res.allowed || !res.session) {
      throw new AppError('UNAUTHENTICATED', `login refused: ${res.reason}${res.retryAfterMs ? ` (retry in ${Math.ceil(Number(res.retryAfterMs) / 1000)} s)` : ''}`, { reason: res.reason });
    }
    const s = res.session;
    const out = { user_id: s.userId, account_id: s.accountId, access_token: s.accessToken, access_expires_at: iso(s.accessExpiresAt), refresh_token: s.refreshToken, refresh_expires_at: iso(s.refreshExpiresAt) };
    args.out.result(out, () => `logged in as ${username} in ${s.accountId}\naccess token (until ${out.access_expires_at}):\n${s.accessToken}\nrefresh token:\n${s.refreshToken}`);
    return 0;
  } finally {
    identity.close();
  }
}
