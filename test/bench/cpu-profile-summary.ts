/**
 * Summarizes a V8 CPU profile (`node --cpu-prof`) by self time: the functions the process spent its
 * own time in, heaviest first — where the time goes, not who called it. Counted in samples, not in
 * the profile's time deltas: on a loaded machine a delta also holds the time the process waited for
 * a core, charged to whichever frame was sampled next; a sample is taken only while it runs.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
}

export interface SelfTimeRow {
  /** `name (file:line)`, the file relative to the repository or the package under node_modules. */
  frame: string;
  samples: number;
  /** Share of the busy samples (idle excluded). */
  share: number;
}

export function summarizeCpuProfile(path: string, root: string, top = 20): { busy: number; idle: number; rows: SelfTimeRow[] } {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const frameOf = new Map<number, string>();
  for (const n of profile.nodes) frameOf.set(n.id, describe(n.callFrame, root));
  const self = new Map<string, number>();
  for (const id of profile.samples) {
    const frame = frameOf.get(id) ?? '?';
    self.set(frame, (self.get(frame) ?? 0) + 1);
  }
  const idle = self.get('(idle)') ?? 0;
  self.delete('(idle)');
  const busy = [...self.values()].reduce((a, b) => a + b, 0);
  const rows = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([frame, samples]) => ({ frame, samples, share: busy > 0 ? samples / busy : 0 }));
  return { busy, idle, rows };
}

function describe(f: ProfileNode['callFrame'], root: string): string {
  const name = f.functionName || '(anonymous)';
  if (!f.url) return name;
  let file = f.url.startsWith('file://') ? new URL(f.url).pathname : f.url;
  const nm = file.lastIndexOf('/node_modules/');
  file = nm >= 0 ? file.slice(nm + '/node_modules/'.length) : file.startsWith(root) ? relative(root, file) : file;
  return `${name} (${file}:${f.lineNumber + 1})`;
}

/**
 * Self time by area: each busy sample charged to the first area whose pattern matches its frame's
 * file (`node_modules/<pkg>/…` or the repository path; `(garbage collector)`, `(program)` and
 * Node's own `node:` files by name), the rest to `other`. Shares of the busy samples.
 */
export function selfTimeByArea(path: string, root: string, areas: readonly { area: string; pattern: RegExp }[]): { area: string; samples: number; share: number }[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const areaOf = new Map<number, string>();
  for (const n of profile.nodes) {
    const frame = describe(n.callFrame, root);
    areaOf.set(n.id, frame === '(idle)' ? '(idle)' : (areas.find((a) => a.pattern.test(frame))?.area ?? 'other'));
  }
  const counts = new Map<string, number>();
  for (const id of profile.samples) {
    const area = areaOf.get(id) ?? 'other';
    counts.set(area, (counts.get(area) ?? 0) + 1);
  }
  counts.delete('(idle)');
  const busy = [...counts.values()].reduce((a, b) => a + b, 0);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([area, samples]) => ({ area, samples, share: busy > 0 ? samples / busy : 0 }));
}
