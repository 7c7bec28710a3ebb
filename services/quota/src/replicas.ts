import { AppError } from '#libs/errors/index.ts';

/** The quota replicas of a mesh and which of them this process is. */
export interface QuotaReplicaSet {
  /** Every replica's gRPC `host:port`, in the order that decides ownership (the same on every replica). */
  readonly addresses: readonly string[];
  /** This replica's position in `addresses`. */
  readonly self: number;
}

const RANGE = /\{(\d{1,3})\.\.(\d{1,3})\}/;

/**
 * `TOLLGATE_QUOTA_REPLICAS` as a list: comma-separated `host:port` entries, where one `{a..b}`
 * range per entry expands in order (`quota-{0..1}.quota-headless:7301` → `quota-0.…`, `quota-1.…`),
 * which is how a StatefulSet names its pods. Duplicates are refused: two entries for one replica
 * would give it two shares of the trees.
 */
export function expandQuotaReplicas(spec: string): string[] {
  const out: string[] = [];
  for (const entry of spec.split(',')) {
    const m = RANGE.exec(entry);
    if (!m) {
      out.push(entry);
      continue;
    }
    const [from, to] = [Number(m[1]), Number(m[2])];
    if (to < from || to - from >= 256) throw replicasError(`the range {${m[1]}..${m[2]}} must count up, at most 256 replicas`);
    for (let i = from; i <= to; i++) out.push(entry.replace(RANGE, String(i)));
  }
  const seen = new Set<string>();
  for (const address of out) {
    if (RANGE.test(address)) throw replicasError('at most one {a..b} range per entry');
    if (seen.has(address)) throw replicasError(`${address} is listed twice`);
    seen.add(address);
  }
  return out;
}

/**
 * Which replica this process is: `TOLLGATE_QUOTA_REPLICA_INDEX` when set (an explicit override),
 * else the entry whose host's first DNS label is this host's name — a StatefulSet pod `quota-1`
 * finds `quota-1.quota-headless:7301`. Nothing set is one replica (undefined). A host not in the
 * list, or in it twice, stops the start: guessing would let two replicas own the same trees.
 */
export function resolveQuotaReplicas(options: { replicas: string | undefined; index: number | undefined; hostname: string | undefined }): QuotaReplicaSet | undefined {
  if (options.replicas === undefined) {
    if (options.index !== undefined) throw new AppError('INVALID_ARGUMENT', 'TOLLGATE_QUOTA_REPLICA_INDEX: set only with TOLLGATE_QUOTA_REPLICAS', { field: 'TOLLGATE_QUOTA_REPLICA_INDEX' });
    return undefined;
  }
  const addresses = expandQuotaReplicas(options.replicas);
  if (options.index !== undefined) {
    if (options.index >= addresses.length) {
      throw new AppError('INVALID_ARGUMENT', `TOLLGATE_QUOTA_REPLICA_INDEX: ${options.index} is past the end of TOLLGATE_QUOTA_REPLICAS (${addresses.length} replicas, 0-based)`, { field: 'TOLLGATE_QUOTA_REPLICA_INDEX' });
    }
    return { addresses, self: options.index };
  }
  const hostname = options.hostname?.split('.')[0]?.toLowerCase();
  if (!hostname) {
    throw new AppError('INVALID_ARGUMENT', 'TOLLGATE_QUOTA_REPLICAS: this host has no name (HOSTNAME unset) to find itself in the list: set TOLLGATE_QUOTA_REPLICA_INDEX', { field: 'TOLLGATE_QUOTA_REPLICAS' });
  }
  const matches = addresses.flatMap((address, i) => (firstLabel(address) === hostname ? [i] : []));
  if (matches.length !== 1) {
    const why = matches.length === 0 ? 'is not in' : 'matches more than one entry of';
    throw new AppError(
      'INVALID_ARGUMENT',
      `TOLLGATE_QUOTA_REPLICAS: this host (${hostname}) ${why} the list ${addresses.join(',')} (an entry's first DNS label must be the host name, e.g. ${hostname}.quota-headless:7301; or set TOLLGATE_QUOTA_REPLICA_INDEX)`,
      { field: 'TOLLGATE_QUOTA_REPLICAS' },
    );
  }
  return { addresses, self: matches[0]! };
}

/** `quota-1.quota-headless.tollgate.svc:7301` → `quota-1`; IP addresses have no name to match. */
function firstLabel(address: string): string | undefined {
  const host = address.slice(0, address.lastIndexOf(':'));
  if (/^[\d.]+$/.test(host) || host.includes(':') || host.startsWith('[')) return undefined;
  return host.split('.')[0]!.toLowerCase();
}

function replicasError(message: string): AppError {
  return new AppError('INVALID_ARGUMENT', `TOLLGATE_QUOTA_REPLICAS: ${message}`, { field: 'TOLLGATE_QUOTA_REPLICAS' });
}
