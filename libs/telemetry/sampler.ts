import { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, TraceIdRatioBasedSampler, type Sampler } from '@opentelemetry/sdk-trace';

/**
 * Head sampling of traces, by the standard OpenTelemetry settings `OTEL_TRACES_SAMPLER` and
 * `OTEL_TRACES_SAMPLER_ARG` (the SDK used here does not read them itself; libs/config does).
 * The `parentbased_*` samplers follow an incoming `traceparent`: a caller's sampled trace is
 * recorded, an unsampled one is not; the named sampler only decides for root spans.
 */
export const TRACE_SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;
export type TraceSamplerName = (typeof TRACE_SAMPLERS)[number];

export interface TraceSampling {
  sampler: TraceSamplerName;
  /** The share of traces sampled, 0..1: used by the `*traceidratio` samplers only. */
  ratio: number;
}

/** Every span recorded, a caller's unsampled traceparent respected: what the console's trace view expects. */
export const DEFAULT_TRACE_SAMPLING: Readonly<TraceSampling> = Object.freeze({ sampler: 'parentbased_always_on', ratio: 1 });

const usesRatio = (sampler: TraceSamplerName) => sampler === 'traceidratio' || sampler === 'parentbased_traceidratio';

export function createSampler(sampling: TraceSampling): Sampler {
  const root = (name: string): Sampler => (name.endsWith('always_on') ? new AlwaysOnSampler() : name.endsWith('always_off') ? new AlwaysOffSampler() : new TraceIdRatioBasedSampler(sampling.ratio));
  return sampling.sampler.startsWith('parentbased_') ? new ParentBasedSampler({ root: root(sampling.sampler) }) : root(sampling.sampler);
}

/** `parentbased_traceidratio 0.01`, `always_on`: the settings' own spelling, for logs and bench output. */
export function describeSampling(sampling: TraceSampling): string {
  return usesRatio(sampling.sampler) ? `${sampling.sampler} ${sampling.ratio}` : sampling.sampler;
}
