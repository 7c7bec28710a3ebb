import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const bin = join(root, 'node_modules/.bin');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? files(full) : [full];
  });
}

describe('contracts', () => {
  it('pass buf lint (STANDARD)', async () => {
    const { stdout, stderr } = await run(join(bin, 'buf'), ['lint'], { cwd: root });
    expect(stdout + stderr).toBe('');
  });

  it('have committed generated code that matches the .proto files (regenerate with npm run generate)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tollgate-gen-'));
    try {
      await run(join(bin, 'buf'), ['generate', '-o', out], { cwd: root, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
      const fresh = files(join(out, 'gen')).map((f) => relative(join(out, 'gen'), f)).sort();
      const committed = files(join(root, 'gen')).map((f) => relative(join(root, 'gen'), f)).sort();
      expect(committed).toEqual(fresh);
      for (const f of fresh) expect(readFileSync(join(root, 'gen', f), 'utf8'), f).toBe(readFileSync(join(out, 'gen', f), 'utf8'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
