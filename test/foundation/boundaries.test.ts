import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

const root = resolve(new URL('../..', import.meta.url).pathname);
const services = readdirSync(join(root, 'services'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every module specifier a file imports or re-exports (static and dynamic). */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

/** The service a specifier from `file` lands in, if it lands in a service's src/. */
function targetService(file: string, spec: string): string | undefined {
  const hash = /^#services\/([a-z-]+)\/src\//.exec(spec);
  if (hash) return hash[1];
  if (!spec.startsWith('.')) return undefined;
  const rel = relative(join(root, 'services'), resolve(file, '..', spec)).split(sep);
  return rel[0] !== '..' && rel[1] === 'src' ? rel[0] : undefined;
}

describe('module boundaries', () => {
  it("no service imports another service's src/ (shared code lives in libs/)", () => {
    const offences: string[] = [];
    for (const service of services) {
      let files: string[];
      try {
        files = sourceFiles(join(root, 'services', service, 'src'));
      } catch {
        continue;
      }
      for (const file of files) {
        for (const spec of specifiers(readFileSync(file, 'utf8'))) {
          const target = targetService(file, spec);
          if (target !== undefined && target !== service) offences.push(`${relative(root, file)} imports ${spec}`);
        }
      }
    }
    expect(offences).toEqual([]);
  });

  it('libs import no service', () => {
    const offences: string[] = [];
    for (const file of sourceFiles(join(root, 'libs'))) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        if (spec.startsWith('#services/') || targetService(file, spec) !== undefined) offences.push(`${relative(root, file)} imports ${spec}`);
      }
    }
    expect(offences).toEqual([]);
  });

  it('finds an offence when there is one (the check itself works)', () => {
    expect(targetService(join(root, 'services/broker/src/x.ts'), '#services/authz/src/domain/acl-engine.ts')).toBe('authz');
    expect(targetService(join(root, 'services/broker/src/clients/x.ts'), '../../../authz/src/authz-core.ts')).toBe('authz');
    expect(targetService(join(root, 'services/broker/src/clients/x.ts'), '../broker-core.ts')).toBe('broker');
    expect(specifiers("import { a } from '#services/authz/src/a.ts';\nexport * from './b.ts';\nconst c = await import('../c.ts');")).toEqual(['#services/authz/src/a.ts', './b.ts', '../c.ts']);
  });
});
