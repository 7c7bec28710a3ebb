import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import { meshEnvSchema } from '../../cli/mesh-config.ts';

/** NATS in deploy/: the broker edges form one cluster over it, in compose and in Kubernetes. */
const read = (path: string) => readFileSync(new URL(`../../deploy/${path}`, import.meta.url), 'utf8');
const envNames = new Set(Object.keys(meshEnvSchema.shape));
type Doc = { kind: string; metadata: { name: string }; data?: Record<string, string>; spec: Record<string, any> };

describe('deploy: the broker edges clustered over NATS', () => {
  it('compose: one NATS with JetStream, two edges with TOLLGATE_NATS_URL behind one TCP load balancer', () => {
    const compose = parse(read('compose.yaml'), { merge: true }) as { services: Record<string, any>; configs: Record<string, { content: string }> };
    expect(compose.services.nats.command).toContain('--jetstream');
    const edges = ['broker', 'broker-2'].map((n) => compose.services[n]);
    for (const edge of edges) {
      expect(edge.command).toEqual(['start', '--service', 'broker']);
      expect(edge.environment.TOLLGATE_NATS_URL).toBe('nats://nats:4222');
      expect(edge.depends_on.nats).toEqual({ condition: 'service_healthy' });
      for (const key of Object.keys(edge.environment)) expect(envNames).toContain(key);
    }
    expect(new Set(edges.map((e) => e.environment.TOLLGATE_BROKER_EDGE_ID)).size).toBe(2);
    // Devices reach the balancer, not an edge.
    expect(compose.services['mqtt-lb'].ports).toEqual(['1883:1883', '8883:8883', '8083:8083']);
    const lb = compose.configs['mqtt-lb']!.content;
    for (const port of [1883, 8883, 8083]) for (const host of ['broker', 'broker-2']) expect(lb).toContain(`${host}:${port}`);
  });

  it('kubernetes: a three-node NATS StatefulSet with JetStream and routes; the broker at 2+ replicas behind the MQTT LoadBalancer', () => {
    const kustomization = parse(read('kubernetes/kustomization.yaml')) as { resources: string[] };
    expect(kustomization.resources).toContain('nats.yaml');
    const docs = ['nats.yaml', 'config.yaml', 'services.yaml'].flatMap((f) => parseAllDocuments(read(`kubernetes/${f}`)).map((d) => d.toJS() as Doc));
    const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name)!;
    const sts = find('StatefulSet', 'nats');
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.serviceName).toBe('nats-cluster');
    const conf = find('ConfigMap', 'nats').data!['nats.conf']!;
    expect(conf).toMatch(/jetstream \{/);
    for (const i of [0, 1, 2]) expect(conf).toContain(`nats://nats-${i}.nats-cluster.tollgate.svc.cluster.local:6222`);
    const config = find('ConfigMap', 'tollgate').data!;
    expect(config.TOLLGATE_NATS_URL).toBe('nats://nats:4222');
    expect(config.TOLLGATE_NATS_KV_REPLICAS).toBe('3');
    for (const key of Object.keys(config)) expect(envNames).toContain(key);
    expect(find('Deployment', 'broker').spec.replicas).toBeGreaterThanOrEqual(2);
    expect(find('Service', 'broker').spec.type).toBe('LoadBalancer');
    expect(find('Service', 'nats').spec.ports[0].port).toBe(4222);
  });
});
