import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, isListening } from './ports.ts';

const run = promisify(execFile);
// The Debian package's own scripts: /usr/sbin/rabbitmq-* only wrap them in `su rabbitmq`.
const BIN = '/usr/lib/rabbitmq/bin';
// The package's Erlang cookie lives here; rabbitmqctl must present the node's cookie.
const RABBITMQ_HOME = '/var/lib/rabbitmq';

/** Why a throwaway RabbitMQ node cannot be started here; undefined when it can. */
export function rabbitmqUnavailableReason(): string | undefined {
  if (!existsSync(`${BIN}/rabbitmq-server`)) return 'rabbitmq-server is not installed (Debian package rabbitmq-server)';
  if (process.getuid?.() !== 0) return 'not root: the throwaway node runs as the rabbitmq user, which needs root to switch to';
  if (rabbitmqUser() === undefined) return 'there is no rabbitmq user';
  return undefined;
}

function rabbitmqUser(): { uid: number; gid: number } | undefined {
  try {
    return { uid: Number(execFileSync('id', ['-u', 'rabbitmq']).toString()), gid: Number(execFileSync('id', ['-g', 'rabbitmq']).toString()) };
  } catch {
    return undefined;
  }
}



export interface RabbitmqNode {
  nodeName: string;
  amqpPort: number;
  mqttPort: number;
  dir: string;
  /** `rabbitmqctl -n NODE …` as the rabbitmq user. */
  ctl(...args: string[]): Promise<string>;
  addVhosts(...names: string[]): Promise<void>;
  /** The node's log file and its stdout, whole. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * A second, throwaway RabbitMQ node beside the resident `rabbit@localhost`: its own node name,
 * ports, config, plugins file, Mnesia and logs in a temp dir, run as the rabbitmq user (the Debian
 * wrapper's `su` is bypassed: we call the package's scripts directly). It delegates every check to
 * `authBaseUrl` (Tollgate authz's `/rabbitmq/…`) and speaks MQTT 3.1.1 on its own port.
 */
export async function startRabbitmqNode(options: { authBaseUrl: string; readyTimeoutMs?: number }): Promise<RabbitmqNode> {
  const user = rabbitmqUser();
  if (!user) throw new Error('no rabbitmq user');
  const [amqpPort, mqttPort, distPort] = [await freePort(), await freePort(), await freePort()];
  const nodeName = `tollgate-${randomBytes(4).toString('hex')}@localhost`;
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-rabbitmq-'));
  for (const sub of ['mnesia', 'log']) mkdirSync(join(dir, sub));
  const base = options.authBaseUrl.replace(/\/$/, '');
  writeFileSync(
    join(dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.1 = 127.0.0.1:${amqpPort}`,
      `mqtt.listeners.tcp.1 = 127.0.0.1:${mqttPort}`,
      'mqtt.allow_anonymous = false',
      'mqtt.exchange = amq.topic',
      'auth_backends.1 = http',
      'auth_http.http_method = post',
      `auth_http.user_path = ${base}/rabbitmq/user`,
      `auth_http.vhost_path = ${base}/rabbitmq/vhost`,
      `auth_http.resource_path = ${base}/rabbitmq/resource`,
      `auth_http.topic_path = ${base}/rabbitmq/topic`,
      'log.console = false',
      'log.file.level = info',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'enabled_plugins'), '[rabbitmq_auth_backend_http,rabbitmq_mqtt].\n');
  // Our own env file, so the resident node's /etc/rabbitmq/rabbitmq-env.conf (NODENAME…) is not read.
  writeFileSync(join(dir, 'rabbitmq-env.conf'), 'ERL_EPMD_ADDRESS=127.0.0.1\n');
  for (const path of [dir, join(dir, 'mnesia'), join(dir, 'log'), join(dir, 'rabbitmq.conf'), join(dir, 'enabled_plugins'), join(dir, 'rabbitmq-env.conf')]) chownSync(path, user.uid, user.gid);

  const env = {
    PATH: '/usr/bin:/bin',
    HOME: RABBITMQ_HOME,
    LANG: 'C.UTF-8',
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_PID_FILE: join(dir, 'node.pid'),
    ERL_FLAGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
  const out = openSync(join(dir, 'log', 'stdout.log'), 'a');
  chownSync(join(dir, 'log', 'stdout.log'), user.uid, user.gid);
  // uid/gid: libuv drops root's supplementary groups too. Own process group: the PID fallback kills it all.
  const child: ChildProcess = spawn(`${BIN}/rabbitmq-server`, [], { uid: user.uid, gid: user.gid, cwd: dir, env, stdio: ['ignore', out, out], detached: true });
  closeSync(out);
  child.unref();
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));

  const ctl = async (...args: string[]) =>
    (await run(`${BIN}/rabbitmqctl`, ['-n', nodeName, ...args], { uid: user.uid, gid: user.gid, cwd: dir, env: { PATH: env.PATH, HOME: RABBITMQ_HOME, LANG: env.LANG, RABBITMQ_CONF_ENV_FILE: env.RABBITMQ_CONF_ENV_FILE }, timeout: 30_000 })).stdout;
  const log = () => {
    try {
      return readFileSync(join(dir, 'log', `${nodeName}.log`), 'utf8') + readFileSync(join(dir, 'log', 'stdout.log'), 'utf8');
    } catch {
      return '(no log)';
    }
  };

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      if (exited === undefined) await ctl('shutdown', '--timeout', '20');
    } catch {
      // PID fallback: the whole process group (rabbitmq-server's shell, beam and its helpers).
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + (options.readyTimeoutMs ?? 45_000);
    // Listeners open at the end of boot (MQTT's with its plugin); then await_startup returns at once.
    while (!((await isListening(amqpPort)) && (await isListening(mqttPort)))) {
      if (exited !== undefined) throw new Error(`RabbitMQ node ${nodeName} exited with ${exited} while booting:\n${log().slice(-4_000)}`);
      if (Date.now() > deadline) throw new Error(`RabbitMQ node ${nodeName} not listening after ${options.readyTimeoutMs ?? 45_000} ms:\n${log().slice(-4_000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await ctl('await_startup', '--timeout', '20');
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    nodeName,
    amqpPort,
    mqttPort,
    dir,
    ctl,
    async addVhosts(...names) {
      await Promise.all(names.map((name) => ctl('add_vhost', name)));
    },
    log,
    stop,
  };
}
