// The CLI's composition root: the one place besides services' main.ts that reads process.env.
import { parseArgs } from 'node:util';
import { meshEnvSchema, parseEnv, serviceNames, type ServiceName } from '#libs/config/index.ts';
import { createOutput, failure, UsageError } from './output.ts';
import { runStart } from './commands/start.ts';
import { runMigrate } from './commands/migrate.ts';
import { runHealth } from './commands/health.ts';

const HELP = `usage: tollgate <command> [options]

commands:
  start [--service identity|authz|quota|broker]   run the mesh (or one service) in this process
  migrate [--service NAME]                         apply pending database migrations
  health                                           grpc.health.v1 check of every configured service

options:
  --json        print one JSON object
  --help        this text

Settings come from the environment (see README: TOLLGATE_*, DATABASE_URL).`;

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, service: { type: 'string' } },
    });
    const [command] = positionals;
    if (values.help || !command) {
      process.stdout.write(`${HELP}\n`);
      return command || values.help ? 0 : 2;
    }
    const service = values.service as ServiceName | undefined;
    if (service && !serviceNames.includes(service)) throw new UsageError(`--service: expected one of ${serviceNames.join(', ')}`);
    const env = parseEnv(meshEnvSchema, process.env);
    const out = createOutput(json);
    switch (command) {
      case 'start':
        return await runStart(env, { service, out });
      case 'migrate':
        return await runMigrate(env, { service, out });
      case 'health':
        return await runHealth(env, { out });
      default:
        throw new UsageError(`unknown command '${command}' (try --help)`);
    }
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith?.('ERR_PARSE_ARGS')) return failure(new UsageError((error as Error).message), json);
    return failure(error, json);
  }
}

process.exitCode = await main(process.argv.slice(2));
