// For the bench's server processes: on stdin, `profile start` starts the V8 profiler (the inspector's,
// what `node --cpu-prof` runs, but over a window) and `profile stop <file>` writes the profile there;
// each is answered `ok` on stdout. Other lines are ignored.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createInterface } from 'node:readline';

export function profileOnStdin(): void {
  let profiler: Session | undefined;
  createInterface({ input: process.stdin }).on('line', (line) => {
    void (async () => {
      const [command, argument] = line.trim().split(/\s+/, 2);
      if (command !== 'profile') return;
      if (argument === 'start') {
        profiler = new Session();
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.start');
      } else if (profiler) {
        const { profile } = await profiler.post('Profiler.stop');
        profiler.disconnect();
        profiler = undefined;
        writeFileSync(line.trim().slice('profile stop '.length), JSON.stringify(profile));
      }
      process.stdout.write('ok\n');
    })();
  });
}
