#!/usr/bin/env node
// Launcher for the `tollgate` CLI. Tollgate is TypeScript run directly by Node's type stripping
// (on by default from Node 22.18 / 23.6); on an older Node >= 22.12 it re-runs itself with the flag.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(`tollgate: Node ${process.versions.node} is too old; Node >= 22.12 is required (Node 24 LTS recommended)\n`);
  process.exit(1);
}
if (process.features.typescript) {
  await import(entry);
} else {
  const child = spawn(process.execPath, ['--experimental-strip-types', '--no-warnings=ExperimentalWarning', entry, ...process.argv.slice(2)], { stdio: 'inherit' });
  child.on('exit', (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
}
