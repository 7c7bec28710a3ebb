// `npm run bench [-- NAME…]`: runs the benchmarks in this folder one after another, each printing
// its own figures and ratios against peers measured in the same run. Never part of `npm test`.
import { existsSync } from 'node:fs';

const benches = [
  { name: 'rpc', file: './rpc.bench.ts', run: 'runRpcBench' },
  { name: 'acl', file: './acl.bench.ts', run: 'runAclBench' },
  { name: 'decision-tally', file: './decision-tally.bench.ts', run: 'runDecisionTallyBench' },
  { name: 'authz', file: './authz.bench.ts', run: 'runAuthzBench' },
  { name: 'authorize-path', file: './authorize-path.bench.ts', run: 'runAuthorizePathBench' },
  { name: 'envoy', file: './envoy.bench.ts', run: 'runEnvoyBench' },
  { name: 'quota', file: './quota.bench.ts', run: 'runQuotaBench' },
  { name: 'identity', file: './identity.bench.ts', run: 'runIdentityBench' },
  { name: 'broker', file: './broker.bench.ts', run: 'runBrokerBench' },
  { name: 'half-open', file: './half-open.bench.ts', run: 'runHalfOpenBench' },
  { name: 'cluster', file: './cluster.bench.ts', run: 'runClusterBench' },
  { name: 'rabbitmq', file: './rabbitmq.bench.ts', run: 'runRabbitmqBench' },
  { name: 'subscribe-cap', file: './subscribe-cap.bench.ts', run: 'runSubscribeCapBench' },
  { name: 'console', file: './console.bench.ts', run: 'runConsoleBench' },
  { name: 'connect-cpu', file: './connect-cpu.bench.ts', run: 'runConnectCpuBench' },
  { name: 'footprint', file: './footprint.bench.ts', run: 'runFootprintBench' },
];

const wanted = process.argv.slice(2);
const selected = wanted.length ? benches.filter((b) => wanted.includes(b.name)) : benches;
if (wanted.length && selected.length !== wanted.length) {
  process.stderr.write(`bench: unknown name; choose from ${benches.map((b) => b.name).join(', ')}\n`);
  process.exit(2);
}

for (const bench of selected) {
  const url = new URL(bench.file, import.meta.url);
  if (!existsSync(url)) {
    process.stdout.write(`\n## ${bench.name}: not present (${bench.file})\n`);
    continue;
  }
  process.stdout.write(`\n## ${bench.name}\n`);
  const mod = (await import(url.href)) as Record<string, () => Promise<unknown>>;
  await mod[bench.run]!();
}
