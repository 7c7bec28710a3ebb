import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type CollectionResult, type DataPoint, type Histogram, type HistogramMetricData, type MetricProducer } from '@opentelemetry/sdk-metrics';

/** One attribute set's accumulator: `record` is a bucket search and four additions, nothing hashed. */
export interface BoundHistogram {
  record(value: number): void;
}

export interface BoundHistogramOptions {
  unit: string;
  description: string;
  /** Inclusive upper bounds, ascending (as the SDK's `explicitBucketBoundaries`). */
  boundaries: readonly number[];
}

class Accumulator implements BoundHistogram {
  readonly attributes: Attributes;
  readonly counts: number[];
  readonly #boundaries: readonly number[];
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  constructor(attributes: Attributes, boundaries: readonly number[]) {
    this.attributes = attributes;
    this.#boundaries = boundaries;
    this.counts = new Array<number>(boundaries.length + 1).fill(0);
  }

  record(value: number): void {
    if (Number.isNaN(value)) return;
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    // The SDK's bucket: the first boundary the value does not exceed (upper bounds are inclusive).
    const boundaries = this.#boundaries;
    let i = 0;
    while (i < boundaries.length && boundaries[i]! < value) i++;
    this.counts[i]!++;
  }
}

class BoundHistogramFamily {
  readonly name: string;
  readonly options: BoundHistogramOptions;
  readonly accumulators: Accumulator[] = [];

  constructor(name: string, options: BoundHistogramOptions) {
    this.name = name;
    this.options = options;
  }

  bind(attributes: Attributes): BoundHistogram {
    const accumulator = new Accumulator(Object.freeze({ ...attributes }), this.options.boundaries);
    this.accumulators.push(accumulator);
    return accumulator;
  }
}

/**
 * Histograms whose attribute sets are bound once (per method and status code, say) and then
 * recorded into without the SDK's per-record work — the SDK has no bound instruments and hashes the
 * attribute set (sorts its keys, JSON-stringifies it) on every `record`. They are read at collection
 * time as a `MetricProducer` of the service's Prometheus reader: the same exposition (name, unit,
 * help, labels, buckets, `_sum`, `_count`) as an SDK histogram with explicit bucket boundaries and
 * cumulative temporality. Bind each attribute set once; binding it again makes a second series.
 */
export class BoundHistograms implements MetricProducer {
  readonly #families = new Map<string, BoundHistogramFamily>();
  readonly #scope: string;
  readonly #startTime: HrTime = millisToHrTime(Date.now());

  constructor(scope: string) {
    this.#scope = scope;
  }

  /** The histogram `name` (made on first use; later calls return the same one and ignore `options`). */
  histogram(name: string, options: BoundHistogramOptions): { bind(attributes: Attributes): BoundHistogram } {
    let family = this.#families.get(name);
    if (!family) this.#families.set(name, (family = new BoundHistogramFamily(name, options)));
    return family;
  }

  async collect(): Promise<CollectionResult> {
    const endTime = millisToHrTime(Date.now());
    const metrics: HistogramMetricData[] = [];
    for (const family of this.#families.values()) {
      const dataPoints: DataPoint<Histogram>[] = [];
      for (const a of family.accumulators) {
        if (a.count === 0) continue;
        dataPoints.push({
          startTime: this.#startTime,
          endTime,
          attributes: a.attributes,
          value: { buckets: { boundaries: [...family.options.boundaries], counts: [...a.counts] }, sum: a.sum, count: a.count, min: a.min, max: a.max },
        });
      }
      if (dataPoints.length === 0) continue;
      metrics.push({
        descriptor: { name: family.name, description: family.options.description, unit: family.options.unit, valueType: ValueType.DOUBLE },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints,
      });
    }
    // The reader keeps the scope metrics and uses its own resource.
    return { resourceMetrics: { resource: resourceFromAttributes({}), scopeMetrics: metrics.length ? [{ scope: { name: this.#scope }, metrics }] : [] }, errors: [] };
  }
}
