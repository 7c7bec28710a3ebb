import { describe, expect, it } from 'vitest';
import { ROOT_CONTEXT, SamplingDecision, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { commonConfigFrom, ConfigError, parseEnv, serviceEnvShape } from '#libs/config/index.ts';
import { z } from 'zod';
import { createSampler, describeSampling, type TraceSampling } from './sampler.ts';

const LOW_TRACE = '00000000000000000000000000000001'; // sampled by any ratio above 0
const HIGH_TRACE = 'ffffffff000000000000000000000000'; // sampled by ratio 1 only (the SDK XORs the id's four 32-bit words)
const parent = (sampled: boolean) => trace.setSpanContext(ROOT_CONTEXT, { traceId: LOW_TRACE, spanId: '0000000000000001', traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE, isRemote: true });

const decide = (sampling: TraceSampling, context = ROOT_CONTEXT, traceId = LOW_TRACE) => createSampler(sampling).shouldSample(context, traceId, 'span', SpanKind.SERVER, {}, []).decision;
const SAMPLED = SamplingDecision.RECORD_AND_SAMPLED;
const DROPPED = SamplingDecision.NOT_RECORD;

describe('trace samplers (OTEL_TRACES_SAMPLER)', () => {
  it('root spans: always_on, always_off and traceidratio decide; parent-based ones ask the same root sampler', () => {
    for (const prefix of ['', 'parentbased_']) {
      expect(decide({ sampler: `${prefix}always_on` as TraceSampling['sampler'], ratio: 1 })).toBe(SAMPLED);
      expect(decide({ sampler: `${prefix}always_off` as TraceSampling['sampler'], ratio: 1 })).toBe(DROPPED);
      const ratio = `${prefix}traceidratio` as TraceSampling['sampler'];
      expect(decide({ sampler: ratio, ratio: 0 })).toBe(DROPPED);
      expect(decide({ sampler: ratio, ratio: 0.5 }, ROOT_CONTEXT, LOW_TRACE)).toBe(SAMPLED);
      expect(decide({ sampler: ratio, ratio: 0.5 }, ROOT_CONTEXT, HIGH_TRACE)).toBe(DROPPED);
      expect(decide({ sampler: ratio, ratio: 1 }, ROOT_CONTEXT, HIGH_TRACE)).toBe(SAMPLED);
    }
  });

  it("parent-based samplers follow a caller's traceparent, whatever their root sampler says; the others ignore it", () => {
    for (const sampler of ['parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const) {
      expect(decide({ sampler, ratio: 0 }, parent(true))).toBe(SAMPLED);
      expect(decide({ sampler, ratio: 1 }, parent(false))).toBe(DROPPED);
    }
    expect(decide({ sampler: 'always_off', ratio: 1 }, parent(true))).toBe(DROPPED);
    expect(decide({ sampler: 'traceidratio', ratio: 0 }, parent(true))).toBe(DROPPED);
    expect(decide({ sampler: 'always_on', ratio: 1 }, parent(false))).toBe(SAMPLED);
  });

  it('is described in the settings’ own spelling, the ratio only where it is used', () => {
    expect(describeSampling({ sampler: 'parentbased_always_on', ratio: 1 })).toBe('parentbased_always_on');
    expect(describeSampling({ sampler: 'parentbased_traceidratio', ratio: 0.01 })).toBe('parentbased_traceidratio 0.01');
  });
});

describe('OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG settings', () => {
  const schema = z.object(serviceEnvShape);
  const sampling = (env: Record<string, string>) => commonConfigFrom(parseEnv(schema, env)).traceSampling;
  const problems = (env: Record<string, string>) => {
    try {
      parseEnv(schema, env);
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  };

  it('default: parentbased_always_on (every span recorded, so the console shows every trace)', () => {
    expect(sampling({})).toEqual({ sampler: 'parentbased_always_on', ratio: 1 });
  });

  it('a ratio sampler takes its ARG (default 1); the others ignore it, as the OpenTelemetry spec says', () => {
    expect(sampling({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' })).toEqual({ sampler: 'parentbased_traceidratio', ratio: 0.01 });
    expect(sampling({ OTEL_TRACES_SAMPLER: 'traceidratio' })).toEqual({ sampler: 'traceidratio', ratio: 1 });
    expect(sampling({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' })).toEqual({ sampler: 'traceidratio', ratio: 0 });
    expect(sampling({ OTEL_TRACES_SAMPLER: 'always_off', OTEL_TRACES_SAMPLER_ARG: '0.5' }).sampler).toBe('always_off');
  });

  it('refuses an unknown sampler and a ratio outside 0..1 at start-up, naming the setting', () => {
    expect(problems({ OTEL_TRACES_SAMPLER: 'jaeger_remote' })).toEqual(['OTEL_TRACES_SAMPLER: expected one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio']);
    for (const bad of ['1.5', '-0.1', 'half', '1e-2', '2'])
      expect(problems({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: bad })).toEqual(['OTEL_TRACES_SAMPLER_ARG: expected a ratio between 0 and 1, e.g. 0.01']);
  });
});
