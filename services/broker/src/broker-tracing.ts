import { context, trace, SpanKind, type Attributes, type Tracer } from '@opentelemetry/api';
import type { Packet } from 'mqtt-packet';
import type { Connection } from './connection.ts';

/**
 * Spans of the MQTT edge: one per CONNECT (the parent of authz's Authenticate, so a device's
 * connect is one trace across broker, authz and identity), and one per sampled PUBLISH/SUBSCRIBE.
 */
export interface BrokerTracing {
  readonly tracer: Tracer;
  /** True for 1 in every `sampleEvery` PUBLISH/SUBSCRIBE; never when sampling is off. */
  sample(): boolean;
}

/** `ratio` 0..1 of PUBLISH/SUBSCRIBE packets traced (0: none, 1: all), taken as every Nth packet: a counter, no RNG on the hot path. */
export function createBrokerTracing(tracer: Tracer, ratio: number): BrokerTracing {
  const every = ratio > 0 ? Math.max(1, Math.round(1 / ratio)) : 0;
  let seen = 0;
  return {
    tracer,
    sample: every === 0 ? () => false : () => ++seen % every === 0,
  };
}

/** Whether this packet gets a span: every CONNECT, sampled PUBLISH and SUBSCRIBE. */
export function isTraced(tracing: BrokerTracing, packet: Packet): boolean {
  return packet.cmd === 'connect' || ((packet.cmd === 'publish' || packet.cmd === 'subscribe') && tracing.sample());
}

const SPAN_NAMES: Readonly<Record<string, string>> = { connect: 'MQTT CONNECT', publish: 'MQTT PUBLISH', subscribe: 'MQTT SUBSCRIBE' };

function attributesOf(conn: Connection, packet: Packet): Attributes {
  const attributes: Attributes = { 'messaging.system': 'mqtt', 'network.peer.address': conn.peerIp };
  if (packet.cmd === 'connect') {
    attributes['messaging.client.id'] = packet.clientId;
    attributes['mqtt.protocol_version'] = packet.protocolVersion ?? 4;
  } else if (packet.cmd === 'publish') {
    attributes['messaging.destination.name'] = packet.topic;
    attributes['mqtt.qos'] = packet.qos;
  } else if (packet.cmd === 'subscribe') {
    attributes['mqtt.subscribe.filters'] = packet.subscriptions?.map((s) => s.topic) ?? [];
  }
  return attributes;
}

/**
 * Runs a packet's handler inside its span: calls the handler makes (authz Authenticate through
 * libs/rpc, which injects the active context) become its children. The account and client id
 * are known once the CONNECT is authenticated, so they are set when the handler is done.
 */
export function traced(tracing: BrokerTracing, conn: Connection, packet: Packet, handle: () => void | Promise<void>): void | Promise<void> {
  const span = tracing.tracer.startSpan(SPAN_NAMES[packet.cmd] ?? `MQTT ${packet.cmd.toUpperCase()}`, { kind: SpanKind.SERVER });
  // A trace the sampler (OTEL_TRACES_SAMPLER) leaves out still carries its context to authz, so
  // the calls under it are left out too; it builds no attributes.
  const recording = span.isRecording();
  if (recording) span.setAttributes(attributesOf(conn, packet));
  const end = () => {
    if (!recording) return span.end();
    const session = conn.session;
    if (session) {
      span.setAttribute('messaging.client.id', session.clientId);
      span.setAttribute('tollgate.account', session.account);
    }
    if (packet.cmd === 'connect') span.setAttribute('mqtt.connect.accepted', conn.connected);
    span.end();
  };
  let result: void | Promise<void>;
  try {
    result = context.with(trace.setSpan(context.active(), span), handle);
  } catch (error) {
    end();
    throw error;
  }
  if (result instanceof Promise) return result.finally(end);
  end();
}
