import { describe, expect, it } from 'vitest';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { BoundHistograms } from './bound-histograms.ts';

const BOUNDARIES = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const VALUES = [0.0001, 0.0005, 0.0005000001, 0.001, 0.003, 0.02, 0.7, 3, 12, 0.0002];

async function exposition(exporter: PrometheusExporter): Promise<string> {
  const { resourceMetrics } = await exporter.collect();
  return new PrometheusSerializer(undefined, false, undefined, undefined, true).serialize(resourceMetrics);
}

describe('BoundHistograms', () => {
  it('exposes exactly what an SDK histogram with the same boundaries and attributes exposes', async () => {
    const resource = resourceFromAttributes({ 'service.name': 't' });
    const sdkExporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
    const sdk = new MeterProvider({ resource, readers: [sdkExporter] });
    const histogram = sdk.getMeter('m').createHistogram('rpc.server.duration_seconds', { unit: 's', description: 'gRPC server call duration', advice: { explicitBucketBoundaries: BOUNDARIES } });
    const bound = new BoundHistograms('m');
    const boundExporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, metricProducers: [bound] });
    const ours = new MeterProvider({ resource, readers: [boundExporter] });
    const family = bound.histogram('rpc.server.duration_seconds', { unit: 's', description: 'gRPC server call duration', boundaries: BOUNDARIES });
    // Bound in the order of their first record (as libs/rpc does): the series come out in that order, as the SDK's.
    const denied = family.bind({ 'rpc.method': 'a.B/C', 'rpc.grpc.status_code': 'PERMISSION_DENIED' });
    const ok = family.bind({ 'rpc.method': 'a.B/C', 'rpc.grpc.status_code': 'OK' });
    family.bind({ 'rpc.method': 'a.B/D', 'rpc.grpc.status_code': 'OK' }); // bound, never recorded: not exposed
    for (const [i, v] of VALUES.entries()) {
      const code = i % 3 === 0 ? 'PERMISSION_DENIED' : 'OK';
      histogram.record(v, { 'rpc.method': 'a.B/C', 'rpc.grpc.status_code': code });
      (code === 'OK' ? ok : denied).record(v);
    }
    const expected = await exposition(sdkExporter);
    expect(expected).toContain('rpc_server_duration_seconds_bucket{rpc_method="a.B/C",rpc_grpc_status_code="OK",le="0.0005"}');
    expect(await exposition(boundExporter)).toBe(expected);
    await Promise.all([sdk.shutdown(), ours.shutdown()]);
  });

  it('exposes nothing before a first record', async () => {
    const bound = new BoundHistograms('m');
    bound.histogram('h', { unit: 's', description: 'd', boundaries: [1] }).bind({ a: 'b' });
    expect((await bound.collect()).resourceMetrics.scopeMetrics).toEqual([]);
  });
});
