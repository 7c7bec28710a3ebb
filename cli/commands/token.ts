import { readFileSync } from 'node:fs';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { parseDurationMs } from '#libs/config/index.ts';
import { Effect, TokenKind, type Token } from '#gen/tollgate/authz/v1/authz_pb.js';
import { UsageError } from '../output.ts';
import { iso, str, unknownCommand, withAdminSession, type AdminArgs } from './admin-session.ts';
import { parseRules } from './parse-rules.ts';

const kinds: Record<string, TokenKind> = { master: TokenKind.MASTER, standard: TokenKind.STANDARD, acl: TokenKind.ACL };
const kindName = (k: TokenKind) => Object.entries(kinds).find(([, v]) => v === k)?.[0] ?? 'unknown';

function tokenJson(t: Token) {
  return {
    id: t.id,
    name: t.name,
    account_id: t.accountId,
    kind: kindName(t.kind),
    rules: t.rules.map((r) => ({ effect: r.effect === Effect.ALLOW ? 'allow' : 'deny', actions: r.actions, resources: r.resources })),
    ip_allow: t.ipAllow,
    expires_at: iso(t.expiresAt),
    ttl_seconds: Number(t.ttlSeconds),
    short_form: t.shortForm,
    created_at: iso(t.createdAt),
    revoked_at: iso(t.revokedAt),
  };
}

/** `tollgate token create|list|update|rotate|show|revoke`. */
export async function runToken(args: AdminArgs): Promise<number> {
  const [, verb, ...rest] = args.positionals;
  return withAdminSession(args, async ({ authz, auth, callerAccount }) => {
    switch (verb) {
      case 'create': {
        const kind = kinds[str(args.flags, 'kind', true)!];
        if (kind === undefined) throw new UsageError('--kind: expected master, standard or acl');
        const rulesFlag = str(args.flags, 'rules');
        const rules = rulesFlag === undefined ? [] : parseRules(rulesFlag === '-' ? await args.readStdin() : readFileSync(rulesFlag, 'utf8'));
        const expires = str(args.flags, 'expires');
        const expiresMs = expires === undefined ? undefined : parseDurationMs(expires);
        if (expires !== undefined && expiresMs === undefined) throw new UsageError('--expires: expected a duration like 30d or 12h');
        const ttl = str(args.flags, 'ttl');
        const ttlMs = ttl === undefined ? 0 : parseDurationMs(ttl);
        if (ttlMs === undefined) throw new UsageError('--ttl: expected a duration like 1h');
        const res = await authz.createToken(
          {
            accountId: str(args.flags, 'account') ?? (await callerAccount()),
            name: str(args.flags, 'name') ?? '',
            kind,
            rules,
            ipAllow: (str(args.flags, 'ip') ?? '').split(',').map((s) => s.trim()).filter(Boolean),
            ...(expiresMs === undefined ? {} : { expiresAt: timestampFromMs(Date.now() + expiresMs) }),
            ttlSeconds: BigInt(Math.floor(ttlMs / 1000)),
            shortForm: args.flags['short-form'] === true,
          },
          auth,
        );
        const t = tokenJson(res.token!);
        args.out.result({ ...t, secret: res.secret }, () => `created ${t.kind} token ${t.id}\nsecret (shown once): ${res.secret}`);
        return 0;
      }
      case 'list': {
        const res = await authz.listTokens({ accountId: str(args.flags, 'account') ?? (await callerAccount()), includeRevoked: args.flags['all'] === true, pageSize: 1_000 }, auth);
        const tokens = res.tokens.map(tokenJson);
        args.out.result({ tokens }, () => tokens.map((t) => `${t.id}  ${t.kind.padEnd(8)} ${t.name}${t.revoked_at ? '  (revoked)' : ''}`).join('\n') || '(no tokens)');
        return 0;
      }
      case 'update': {
        const id = rest[0];
        if (!id) throw new UsageError('usage: tollgate token update TOKEN_ID [--name N] [--rules FILE|-] [--ip MASKS] [--expires 30d|never] [--ttl 1h]');
        const mask: string[] = [];
        const rulesFlag = str(args.flags, 'rules');
        const expires = str(args.flags, 'expires');
        const ttl = str(args.flags, 'ttl');
        const ip = str(args.flags, 'ip');
        const name = str(args.flags, 'name');
        if (name !== undefined) mask.push('name');
        if (rulesFlag !== undefined) mask.push('rules');
        if (ip !== undefined) mask.push('ip_allow');
        if (expires !== undefined) mask.push('expires_at');
        if (ttl !== undefined) mask.push('ttl_seconds');
        if (mask.length === 0) throw new UsageError('token update: name at least one of --name, --rules, --ip, --expires, --ttl');
        const expiresMs = expires === undefined || expires === 'never' ? undefined : parseDurationMs(expires);
        if (expires !== undefined && expires !== 'never' && expiresMs === undefined) throw new UsageError('--expires: expected a duration like 30d, or never');
        const ttlMs = ttl === undefined ? 0 : parseDurationMs(ttl);
        if (ttlMs === undefined) throw new UsageError('--ttl: expected a duration like 1h');
        const res = await authz.updateToken(
          {
            tokenId: id,
            updateMask: mask,
            name: name ?? '',
            rules: rulesFlag === undefined ? [] : parseRules(rulesFlag === '-' ? await args.readStdin() : readFileSync(rulesFlag, 'utf8')),
            ipAllow: (ip ?? '').split(',').map((x) => x.trim()).filter(Boolean),
            ...(expiresMs === undefined ? {} : { expiresAt: timestampFromMs(Date.now() + expiresMs) }),
            ttlSeconds: BigInt(Math.floor(ttlMs / 1000)),
          },
          auth,
        );
        const t = tokenJson(res.token!);
        args.out.result(t, () => `updated ${t.id} (${mask.join(', ')})`);
        return 0;
      }
      case 'rotate': {
        const id = rest[0];
        if (!id) throw new UsageError('usage: tollgate token rotate TOKEN_ID [--grace 1h]');
        const grace = str(args.flags, 'grace');
        const graceMs = grace === undefined ? 0 : parseDurationMs(grace);
        if (graceMs === undefined) throw new UsageError('--grace: expected a duration like 1h');
        const res = await authz.rotateToken({ tokenId: id, graceSeconds: BigInt(Math.floor(graceMs / 1000)) }, auth);
        const t = tokenJson(res.token!);
        args.out.result({ ...t, secret: res.secret }, () => `rotated ${t.id}
new secret (shown once): ${res.secret}`);
        return 0;
      }
      case 'show':
      case 'revoke': {
        const id = rest[0];
        if (!id) throw new UsageError(`usage: tollgate token ${verb} TOKEN_ID`);
        const res = verb === 'show' ? await authz.getToken({ tokenId: id }, auth) : await authz.revokeToken({ tokenId: id }, auth);
        const t = tokenJson(res.token!);
        args.out.result(t, () => (verb === 'show' ? JSON.stringify(t, null, 2) : `revoked ${t.id}`));
        return 0;
      }
      default:
        throw unknownCommand(args);
    }
  });
}
