import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import { defaultPorts, meshEnvSchema, resolveQuotaReplicas, startableServices } from '#libs/config/index.ts';
import { databaseServices } from '../../cli/mesh.ts';

/** deploy/ checked against the code's config: names, ports, probes and the edges the mesh uses. */
const read = (path: string) => readFileSync(new URL(`../../deploy/${path}`, import.meta.url), 'utf8');
const envNames = new Set(Object.keys(meshEnvSchema.shape));
const httpPort = (name: string) => (defaultPorts as Record<string, { http: number }>)[name]!.http;
const grpcPort = (name: string) => (defaultPorts as Record<string, { grpc?: number }>)[name]!.grpc;

type Doc = { kind: string; metadata: { name: string }; data?: Record<string, string>; stringData?: Record<string, string>; spec: Record<string, any> };

describe('deploy/compose.yaml', () => {
  const compose = parse(read('compose.yaml'), { merge: true }) as { services: Record<string, { command?: string[]; environment?: Record<string, string>; healthcheck?: { test: string[] }; depends_on?: Record<string, { condition: string }> }> };

  it('runs every service in its own container, the database only where it is used, after one bootstrap', () => {
    expect(compose.services.bootstrap!.command).toEqual(['bootstrap', '--out', '/var/lib/tollgate/bootstrap.json']);
    for (const name of startableServices) {
      const service = compose.services[name]!;
      expect(service.command).toEqual(['start', '--service', name]);
      expect(service.depends_on?.bootstrap).toEqual({ condition: 'service_completed_successfully' });
      expect({ name, database: 'DATABASE_URL' in service.environment! }).toEqual({ name, database: databaseServices.includes(name) });
      expect(service.healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${httpPort(name)}/readyz`);
      for (const key of Object.keys(service.environment!)) expect(envNames).toContain(key);
    }
  });
});

describe('deploy/kubernetes', () => {
  const docs = ['config.yaml', 'services.yaml', 'network-policies.yaml'].flatMap((f) => parseAllDocuments(read(`kubernetes/${f}`)).map((d) => d.toJS() as Doc));
  const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name)!;

  it('configures only settings the code reads', () => {
    for (const d of docs.filter((d) => d.kind === 'ConfigMap' || d.kind === 'Secret')) {
      for (const key of Object.keys(d.data ?? d.stringData ?? {})) expect(envNames).toContain(key);
    }
    expect(find('Job', 'tollgate-bootstrap').spec.template.spec.containers[0].args).toEqual(['bootstrap', '--json']);
  });

  it('runs each service alone with its ports, probes on /readyz and /healthz, and the database secret only where used', () => {
    for (const name of startableServices) {
      const container = (find('Deployment', name) ?? find('StatefulSet', name)).spec.template.spec.containers[0];
      for (const e of (container.env ?? []) as { name: string }[]) expect(envNames).toContain(e.name);
      expect(container.args).toEqual(['start', '--service', name]);
      const ports = Object.fromEntries((container.ports as { name: string; containerPort: number }[]).map((p) => [p.name, p.containerPort]));
      expect(ports.http).toBe(httpPort(name));
      expect(ports.grpc).toBe(grpcPort(name));
      expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
      const secrets = (container.envFrom as { secretRef?: { name: string } }[]).flatMap((e) => (e.secretRef ? [e.secretRef.name] : []));
      expect({ name, secrets }).toEqual({ name, secrets: databaseServices.includes(name) ? ['tollgate', 'tollgate-database'] : ['tollgate'] });
    }
    const mqtt = find('Service', 'broker');
    expect(mqtt.spec.type).toBe('LoadBalancer');
    expect(mqtt.spec.ports.map((p: { port: number }) => p.port)).toEqual([defaultPorts.broker.mqtt, defaultPorts.broker.mqtts, defaultPorts.broker.mqttWs]);
    expect(find('ConfigMap', 'tollgate').data!.TOLLGATE_BROKER_URL).toBe(`broker-admin:${defaultPorts.broker.grpc}`);
  });

  it('allows Envoy → authz and quota, console and CLI → broker admin, Prometheus → every /metrics', () => {
    const allows = (policy: string, port: number, label: string) =>
      (find('NetworkPolicy', policy).spec.ingress as { from?: { podSelector?: { matchLabels: Record<string, string> } }[]; ports: { port: number }[] }[]).some(
        (rule) => rule.ports.some((p) => p.port === port) && (rule.from ?? []).some((f) => Object.values(f.podSelector?.matchLabels ?? {}).includes(label)),
      );
    expect(allows('authz-from-peers', defaultPorts.authz.grpc, 'envoy')).toBe(true);
    expect(allows('quota-from-peers', defaultPorts.quota.grpc, 'envoy')).toBe(true);
    expect(allows('broker-mqtt', defaultPorts.broker.grpc, 'console')).toBe(true);
    expect(allows('broker-mqtt', defaultPorts.broker.grpc, 'tollgate-cli')).toBe(true);
    expect(allows('broker-mqtt', defaultPorts.broker.grpc, 'envoy')).toBe(false);
    for (const name of startableServices) expect(allows('metrics-from-prometheus', httpPort(name), 'prometheus')).toBe(true);
  });

  it('runs quota as a StatefulSet whose pods find themselves in one replica list (no hand-set index)', () => {
    const set = find('StatefulSet', 'quota');
    expect(find('Deployment', 'quota')).toBeUndefined();
    const env = Object.fromEntries((set.spec.template.spec.containers[0].env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
    expect(env.TOLLGATE_QUOTA_REPLICA_INDEX).toBeUndefined();
    const replicas: number = set.spec.replicas;
    expect(replicas).toBe(2);
    // Each pod's HOSTNAME is <statefulset>-<ordinal>: every ordinal finds its own entry, resolvable through the headless Service.
    for (let ordinal = 0; ordinal < replicas; ordinal++) {
      const resolved = resolveQuotaReplicas({ replicas: env.TOLLGATE_QUOTA_REPLICAS, index: undefined, hostname: `${set.metadata.name}-${ordinal}` })!;
      expect(resolved.addresses).toHaveLength(replicas);
      expect(resolved.self).toBe(ordinal);
      expect(resolved.addresses[ordinal]).toBe(`quota-${ordinal}.${set.spec.serviceName}:${defaultPorts.quota.grpc}`);
    }
    const headless = find('Service', set.spec.serviceName);
    expect(headless.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true, selector: { app: 'quota' } });
    expect(find('PodDisruptionBudget', 'quota').spec).toMatchObject({ maxUnavailable: 1, selector: { matchLabels: { app: 'quota' } } });
    // Clients resolve every replica of identity, authz and quota (headless Services) and spread calls over them.
    for (const name of ['identity', 'authz', 'quota']) expect({ name, clusterIP: find('Service', name).spec.clusterIP }).toEqual({ name, clusterIP: 'None' });
  });

  it('lets quota replicas forward to each other', () => {
    const rules = find('NetworkPolicy', 'quota-from-peers').spec.ingress as { from: { podSelector?: { matchLabels: Record<string, string> } }[]; ports: { port: number }[] }[];
    expect(rules.some((r) => r.ports.some((p) => p.port === defaultPorts.quota.grpc) && r.from.some((f) => f.podSelector?.matchLabels.app === 'quota'))).toBe(true);
  });
});
