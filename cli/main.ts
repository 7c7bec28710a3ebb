// The CLI's composition root: the one place besides services' main.ts that reads process.env.
// Commands are imported on demand so that `tollgate check` does not load the whole mesh.
import { parseArgs } from 'node:util';
import { parseEnv, startableServices, type StartableService } from '#libs/config/index.ts';
import { meshChecks, meshConfigFrom, meshEnvSchema } from './mesh-config.ts';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { createOutput, failure, UsageError } from './output.ts';
import { resolveSecretKey } from './secret-key.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError('expected input on stdin');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const HELP = `usage: tollgate <command> [options]

commands:
  start [--service identity|authz|quota|broker|console]
                                                   run the mesh (or one service) in this process
        [--workers N]                              identity/authz: N processes sharing the service's ports
  migrate [--service NAME]                         apply pending database migrations
  bootstrap [--out FILE]                           first start of a production mesh: applies pending migrations,
                                                   then creates the root account, its owner 'admin' and a master
                                                   token if the database has no account yet; prints them once
                                                   (or writes FILE, mode 0600). Re-running changes nothing.
  health                                           grpc.health.v1 check of every configured service
  account create NAME [--parent ID]                a subaccount (of your token's account by default)
  account list [--account ID]                      an account and its subtree
  account suspend ID | account resume ID          suspends (resumes) the account and its subtree
  user create USERNAME --account ID --role ROLE    password read from stdin
  user add-role USER_ID --account ID --role ROLE
  user unlock USERNAME [--address IP]              lifts a login lockout (from one address, or everywhere)
  login USERNAME [--account ID] [--totp CODE]      password from stdin; prints access and refresh tokens
  audit list [--account ID] [--kind KIND]          audit events (security and admin actions), newest first
  keys rotate                                      new signing key (needs TOLLGATE_SECRET_KEY, or the dev data dir)
  service-credential NAME                          a mesh service credential (tgsvc_NAME_…) for infrastructure
                                                   that calls internal RPCs, e.g. Envoy's rate limit filter
                                                   (needs TOLLGATE_SECRET_KEY, or the dev data dir)
  token create --kind master|standard|acl [--account ID] [--name N] [--rules FILE|-]
               [--ip MASKS] [--expires 30d] [--ttl 1h] [--short-form]
  token list [--account ID] [--all] | token show ID | token revoke ID
  token update ID [--name N] [--rules FILE|-] [--ip MASKS] [--expires 30d|never] [--ttl 1h]
  token rotate ID [--grace 1h]                     new secret; the old one valid for the grace period
  limit set [--account ID] METRIC VALUE [--per second|minute|day|month] [--burst N] [--shadow]
  limit show [--account ID]                        effective limits, with the account each comes from
  usage show [--account ID] [--metric M] [--since 1h] [--subtree]
  clients list [--account ID] | clients kick CLIENT_ID [--account ID] | clients stats [--account ID [--subtree]]
                                                   MQTT clients connected to the broker edge
  client create NAME --type web|spa|native|service|device [--account ID] [--redirect-uri URI]…
               [--post-logout-uri URI]… [--rules FILE|-] [--scope "openid offline_access tollgate"]
               [--first-party] [--id-token-alg ES256]
                                                   an OAuth client of identity's provider; prints client_id
                                                   and, for web/service, client_secret (shown once);
                                                   --rules binds service/device tokens to acl rules
  client list [--account ID] | client show ID | client delete ID | client rotate-secret ID
  client update ID [--name N] [--redirect-uri URI]… [--rules FILE|-] [--scope S] [--disable|--enable]
               [--first-party|--third-party]
  sso create NAME --issuer URL --client-id ID [--provisioning invited|jit] [--role admin|member|viewer] [--account ID]
                                                   an upstream OpenID Connect provider for the account's
                                                   sign-in page (client secret on stdin); sso list | sso delete ID
  sso create NAME --kind saml --issuer IDP_ENTITY_ID --entry-point URL --idp-cert FILE [--role R]
                                                   a SAML 2.0 IdP (signed assertions; prints the SP entity ID and ACS URL)
  check --token T --action A --resource R [--client-id C] [--ip A] [--account ID]
                                                   prints the decision; exit 3 when denied
  decisions stats [--account ID] [--subtree]       decisions allowed, denied (by reason) and token-cache
                                                   hits/misses, counted by the authz replica that answers

options:
  --json        print one JSON object
  --token T     credential for admin verbs (else TOLLGATE_TOKEN, else in development the
                master token in <data dir>/bootstrap.json); an empty one given is a usage error
  --help        this text

Settings come from the environment (see README: TOLLGATE_*, DATABASE_URL).`;

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        service: { type: 'string' },
        token: { type: 'string' },
        account: { type: 'string' },
        parent: { type: 'string' },
        role: { type: 'string' },
        provisioning: { type: 'string' },
        kind: { type: 'string' },
        name: { type: 'string' },
        rules: { type: 'string' },
        ip: { type: 'string' },
        expires: { type: 'string' },
        ttl: { type: 'string' },
        'short-form': { type: 'boolean' },
        all: { type: 'boolean' },
        action: { type: 'string' },
        resource: { type: 'string' },
        'client-id': { type: 'string' },
        grace: { type: 'string' },
        per: { type: 'string' },
        burst: { type: 'string' },
        shadow: { type: 'boolean' },
        metric: { type: 'string' },
        since: { type: 'string' },
        subtree: { type: 'boolean' },
        totp: { type: 'string' },
        workers: { type: 'string' },
        out: { type: 'string' },
        address: { type: 'string' },
        type: { type: 'string' },
        'redirect-uri': { type: 'string', multiple: true },
        'post-logout-uri': { type: 'string', multiple: true },
        scope: { type: 'string' },
        'first-party': { type: 'boolean' },
        'third-party': { type: 'boolean' },
        disable: { type: 'boolean' },
        enable: { type: 'boolean' },
        'id-token-alg': { type: 'string' },
        issuer: { type: 'string' },
        'entry-point': { type: 'string' },
        'idp-cert': { type: 'string' },
      },
    });
    const [command] = positionals;
    if (values.help || !command) {
      process.stdout.write(`${HELP}\n`);
      return command || values.help ? 0 : 2;
    }
    const service = values.service as StartableService | undefined;
    if (service !== undefined && !startableServices.includes(service)) throw new UsageError(`--service: expected one of ${startableServices.join(', ')}`);
    // HOSTNAME is exported in containers (the pod name); a shell keeps it unexported: the OS's name stands in.
    // `start` also checks across the settings of what it runs (every problem reported together).
    const env = parseEnv(meshEnvSchema, { HOSTNAME: hostname(), ...process.env }, command === 'start' ? meshChecks(service) : undefined);
    const out = createOutput(json);
    switch (command) {
      case 'start':
        return await (await import('./commands/start.ts')).runStart(meshConfigFrom(env, service), {
          service,
          out,
          explicitEnv: new Set(Object.keys(process.env).filter((k) => process.env[k]?.trim())),
          workers: (await import('./workers.ts')).checkWorkers(values.workers, service),
        });
      case 'migrate':
        return await (await import('./commands/migrate.ts')).runMigrate(env, { service, out });
      case 'bootstrap':
        if (positionals.length > 1) throw new UsageError('bootstrap takes no arguments (try --help)');
        return await (await import('./commands/bootstrap.ts')).runBootstrap(env, { out, file: values.out });
      case 'health':
        return await (await import('./commands/health.ts')).runHealth(env, { out });
      case 'service-credential': {
        const name = positionals[1];
        if (!name || positionals.length > 2 || !/^[a-z]{2,16}$/.test(name)) throw new UsageError('service-credential NAME: NAME is 2-16 lower-case letters, e.g. envoy');
        const key = resolveSecretKey({ configured: env.TOLLGATE_SECRET_KEY, env: env.TOLLGATE_ENV, dataDir: resolve(env.TOLLGATE_DATA_DIR), mustExist: true });
        const credential = mintServiceCredential(key, name);
        out.result({ service: name, credential }, () => credential);
        return 0;
      }
      case 'account':
      case 'user':
      case 'login':
      case 'audit':
      case 'keys':
      case 'token':
      case 'check':
      case 'clients':
      case 'decisions':
      case 'limit':
      case 'usage':
      case 'sso':
      case 'client': {
        // One module per noun (cli/commands/NOUN.ts), loaded on demand.
        const run = await adminCommands[command]!();
        return await run({
          positionals,
          flags: values,
          env,
          envToken: process.env.TOLLGATE_TOKEN,
          out,
          readStdin,
          serviceCredential: () => {
            // Only `keys rotate` signs with the mesh secret key; `sso` and `client` never ask for it.
            if (command === 'sso' || command === 'client') return '';
            const key = resolveSecretKey({ configured: env.TOLLGATE_SECRET_KEY, env: env.TOLLGATE_ENV, dataDir: resolve(env.TOLLGATE_DATA_DIR), mustExist: true });
            return mintServiceCredential(key, 'console');
          },
        });
      }
      default:
        throw new UsageError(`unknown command '${command}' (try --help)`);
    }
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith?.('ERR_PARSE_ARGS')) return failure(new UsageError((error as Error).message), json);
    return failure(error, json);
  }
}

type AdminCommand = (args: import('./commands/admin-session.ts').AdminArgs) => Promise<number>;

/** The administrative nouns, each in its own module. */
const adminCommands: Record<string, () => Promise<AdminCommand>> = {
  account: async () => (await import('./commands/account.ts')).runAccount,
  user: async () => (await import('./commands/user.ts')).runUser,
  login: async () => (await import('./commands/login.ts')).runLogin,
  audit: async () => (await import('./commands/audit.ts')).runAudit,
  keys: async () => (await import('./commands/keys.ts')).runKeys,
  token: async () => (await import('./commands/token.ts')).runToken,
  check: async () => (await import('./commands/check.ts')).runCheck,
  clients: async () => (await import('./commands/clients.ts')).runClients,
  decisions: async () => (await import('./commands/decisions.ts')).runDecisions,
  limit: async () => (await import('./commands/limit.ts')).runLimit,
  usage: async () => (await import('./commands/usage.ts')).runUsage,
  sso: async () => (await import('./commands/sso.ts')).runSso,
  client: async () => (await import('./commands/client.ts')).runOAuthClient,
};

process.exitCode = await main(process.argv.slice(2));
