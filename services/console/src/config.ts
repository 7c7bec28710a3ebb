import { z } from 'zod';
import { commonChecks, commonConfigFrom, defaultPorts, duration, parseEnv, port, serviceEnvShape, type CommonConfig, type CrossCheck, type Env } from '#libs/config/index.ts';

/** The console's own settings (env names are the keys; README "Settings"). */
export const consoleEnvShape = {
  TOLLGATE_CONSOLE_HTTP_PORT: port(defaultPorts.console.http),
  /** Console sessions end after this long without a request, and this long after sign-in at most. */
  TOLLGATE_CONSOLE_SESSION_IDLE: duration('30m'),
  TOLLGATE_CONSOLE_SESSION_MAX: duration('12h'),
};

export const consoleEnvSchema = z.object({ ...serviceEnvShape, ...consoleEnvShape });
export type ConsoleEnv = z.infer<typeof consoleEnvSchema>;

export const consolePortNames = ['TOLLGATE_CONSOLE_HTTP_PORT'] as const;

/** Checks across the console's settings (it calls every service over gRPC, with TLS when configured). */
export const consoleChecks: CrossCheck<ConsoleEnv> = (values) => commonChecks(values);

export interface ConsoleConfig {
  common: CommonConfig;
  httpPort: number;
  sessionIdleMs: number;
  sessionAbsoluteMs: number;
}

export function consoleConfigFrom(env: ConsoleEnv): ConsoleConfig {
  return { common: commonConfigFrom(env), httpPort: env.TOLLGATE_CONSOLE_HTTP_PORT, sessionIdleMs: env.TOLLGATE_CONSOLE_SESSION_IDLE, sessionAbsoluteMs: env.TOLLGATE_CONSOLE_SESSION_MAX };
}

/** The console's configuration from the environment: every problem reported together (ConfigError). */
export function loadConsoleConfig(env: Env): ConsoleConfig {
  return consoleConfigFrom(parseEnv(consoleEnvSchema, env, consoleChecks));
}
