import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import { defaultPorts, startableServices } from '#libs/config/index.ts';
import { resolveQuotaReplicas } from '#services/quota/src/replicas.ts';
import { meshEnvSchema } from '../../cli/mesh-config.ts';
import { databaseServices } from '../../cli/mesh.ts';
import { validateManifest } from './kubernetes-schema.ts';

/** deploy/ checked against the code's config: names, ports, probes and the edges the mesh uses. */
const read = (path: string) => readFileSync(new URL(`../../deploy/${path}`, import.meta.url), 'utf8');
const envNames = new Set(Object.keys(meshEnvSchema.shape));
const httpPort = (name: string) => (defaultPorts as Record<string, { http: number }>)[name]!.http;
const grpcPort = (name: string) => (defaultPorts as Record<string, { grpc?: number }>)[name]!.grpc;

/** The CLI's commands (its usage text) and options (its parseArgs table): what deploy/ may run. */
const cliSource = readFileSync(new URL('../../cli/main.ts', import.meta.url), 'utf8');
const knownCommand = (args: string[]) => {
  const [command, ...rest] = args;
  expect(cliSource).toMatch(new RegExp(`^  ${command} `, 'm'));
  for (const flag of rest.filter((a) => a.startsWith('--'))) expect(cliSource).toMatch(new RegExp(`^\\s+'?${flag.slice(2)}'?: \\{ type:`, 'm'));
};
const allPorts = new Set(Object.values(defaultPorts).flatMap((p) => Object.values(p as Record<string, number>)));

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
      knownCommand(service.command!);
    }
    knownCommand(compose.services.bootstrap!.command!);
  });

  it("publishes only the code's ports, and serves MQTT over TLS on 8883 with the certificate from deploy/certs (README)", () => {
    for (const name of startableServices) {
      for (const mapping of (compose.services[name] as { ports?: string[] }).ports ?? []) {
        const [host, container] = mapping.split(':').map(Number);
        expect({ name, mapping, known: allPorts.has(container!) && host === container }).toEqual({ name, mapping, known: true });
      }
    }
    // Devices reach the edges through one TCP load balancer (mqtt-lb), which publishes the MQTT ports;
    // every edge serves MQTT over TLS with the mounted certificate.
    const lb = compose.services['mqtt-lb'] as { ports: string[] };
    expect(lb.ports).toContain(`${defaultPorts.broker.mqtts}:${defaultPorts.broker.mqtts}`);
    for (const edge of ['broker', 'broker-2']) {
      const broker = compose.services[edge] as { environment: Record<string, string>; volumes: string[] };
      expect(broker.volumes[0]).toBe('${TOLLGATE_MQTT_TLS_DIR:-./certs}:/etc/tollgate/mqtt-tls:ro');
      expect(broker.environment.TOLLGATE_MQTT_TLS_CERT).toBe('/etc/tollgate/mqtt-tls/tls.crt');
      expect(broker.environment.TOLLGATE_MQTT_TLS_KEY).toBe('/etc/tollgate/mqtt-tls/tls.key');
    }
    // The README tells where the certificate goes, and the path is the one compose mounts.
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('deploy/certs/tls.crt');
    expect(readme).toContain('TOLLGATE_MQTT_TLS_DIR');
  });
});

describe('deploy/kubernetes', () => {
  // Every file kustomize applies (a file added later is checked too).
  const files = (parse(read('kubernetes/kustomization.yaml')) as { resources: string[] }).resources;
  const docs = files.flatMap((f) => parseAllDocuments(read(`kubernetes/${f}`)).map((d) => d.toJS() as Doc)).filter(Boolean);

  it('is valid against the Kubernetes API schemas (kubernetes-models, offline)', async () => {
    expect(files).toEqual(expect.arrayContaining(['namespace.yaml', 'config.yaml', 'services.yaml', 'network-policies.yaml', 'disruption-budgets.yaml']));
    for (const doc of docs) expect({ doc: `${doc.kind}/${doc.metadata?.name}`, error: await validateManifest(doc) }).toEqual({ doc: `${doc.kind}/${doc.metadata?.name}`, error: undefined });
  });

  it('the validator rejects what the API server would', async () => {
    const service = find('Service', 'broker');
    expect(await validateManifest({ ...service, spec: { ...service.spec, ports: [{ port: 'mqtt' }] } })).toMatch(/port/);
    expect(await validateManifest({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'x' }, spec: { maxUnavailable: 1, selector: { matchLabels: 'app' } } })).toMatch(/matchLabels/);
    expect(await validateManifest({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'x' } })).toMatch(/no schema/);
  });

  it("names only env, ports and commands the code has", () => {
    for (const d of docs.filter((d) => d.kind === 'Deployment' || d.kind === 'Job')) {
      for (const container of d.spec.template.spec.containers as { args: string[]; env?: { name: string }[]; ports?: { containerPort: number }[] }[]) {
        if (container.args) knownCommand(container.args);
        for (const e of container.env ?? []) expect(envNames).toContain(e.name);
        for (const p of container.ports ?? []) expect({ in: d.metadata.name, port: p.containerPort, known: allPorts.has(p.containerPort) || p.containerPort === 4222 }).toMatchObject({ known: true });
      }
    }
  });

  it('serves MQTT over TLS from the tollgate-mqtt-tls Secret, and keeps one pod of each service up through voluntary disruptions', () => {
    const broker = find('Deployment', 'broker').spec.template.spec;
    const env = Object.fromEntries((broker.containers[0].env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
    const mount = (broker.containers[0].volumeMounts as { name: string; mountPath: string }[]).find((m) => m.name === 'mqtt-tls')!;
    expect(env).toMatchObject({ TOLLGATE_MQTT_TLS_CERT: `${mount.mountPath}/tls.crt`, TOLLGATE_MQTT_TLS_KEY: `${mount.mountPath}/tls.key` });
    expect(broker.volumes).toContainEqual({ name: 'mqtt-tls', secret: { secretName: 'tollgate-mqtt-tls' } });
    for (const name of startableServices) {
      const workload = find('Deployment', name) ?? find('StatefulSet', name); // quota is a StatefulSet
      expect(find('PodDisruptionBudget', name).spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: workload.spec.selector.matchLabels } });
    }
  });
  const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name)!;

  it('configures only settings the code reads', () => {
    // NATS's own configuration file (deploy/kubernetes/nats.yaml) is not Tollgate's environment.
    for (const d of docs.filter((d) => (d.kind === 'ConfigMap' || d.kind === 'Secret') && !String(d.metadata.name).startsWith('nats'))) {
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

  it('allows exactly the edges the README lists, and denies the rest (NATS entries aside, if present)', () => {
    const policies = docs.filter((d) => d.kind === 'NetworkPolicy');
    const denyAll = policies.find((p) => Object.keys(p.spec.podSelector).length === 0 && !p.spec.ingress);
    expect(denyAll?.spec.policyTypes).toEqual(['Ingress']);
    type Peer = { podSelector?: { matchLabels?: Record<string, string> }; namespaceSelector?: { matchLabels?: Record<string, string> } };
    const appsOf = (selector: Record<string, any>): string[] => selector.matchLabels?.app ? [selector.matchLabels.app] : (selector.matchExpressions?.[0]?.values ?? []);
    const peerName = (f: Peer) => f.podSelector?.matchLabels?.app ?? f.podSelector?.matchLabels?.['app.kubernetes.io/name'] ?? '?';
    const edges = new Set<string>();
    for (const p of policies) {
      for (const rule of (p.spec.ingress ?? []) as { from?: Peer[]; ports: { port: number }[] }[]) {
        for (const app of appsOf(p.spec.podSelector)) {
          for (const { port } of rule.ports) for (const from of rule.from ? rule.from.map(peerName) : ['world']) edges.add(`${from} -> ${app}:${port}`);
        }
      }
    }
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('<!-- network-policies -->'), readme.indexOf('<!-- /network-policies -->'));
    const documented = new Set([...section.matchAll(/^\| ([\w-]+) \| ([\w-]+) \| ([\d, ]+) \|/gm)].flatMap(([, from, to, ports]) => ports!.split(',').map((port) => `${from} -> ${to}:${port.trim()}`)));
    expect(documented.size).toBeGreaterThan(10);
    const withoutNats = (set: Set<string>) => [...set].filter((e) => !/nats|:4222$|:8222$|:6222$/.test(e)).sort();
    expect(withoutNats(edges)).toEqual(withoutNats(documented));
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
