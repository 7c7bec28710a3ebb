/**
 * MQTT reason codes — the one table (STYLE.md, Errors §3). v5 codes are sent as is; v3.1.1 has
 * only the CONNACK return codes and SUBACK 0x80, so each v5 code maps to its nearest v3 code.
 */

export const RC = {
  success: 0x00,
  grantedQos1: 0x01,
  grantedQos2: 0x02,
  noMatchingSubscribers: 0x10,
  noSubscriptionExisted: 0x11,
  unspecified: 0x80,
  malformedPacket: 0x81,
  protocolError: 0x82,
  unsupportedProtocolVersion: 0x84,
  clientIdNotValid: 0x85,
  badUsernameOrPassword: 0x86,
  notAuthorized: 0x87,
  serverUnavailable: 0x88,
  serverBusy: 0x89,
  banned: 0x8a,
  serverShuttingDown: 0x8b,
  badAuthenticationMethod: 0x8c,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicFilterInvalid: 0x8f,
  topicNameInvalid: 0x90,
  packetIdInUse: 0x91,
  packetIdNotFound: 0x92,
  receiveMaximumExceeded: 0x93,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  messageRateTooHigh: 0x96,
  quotaExceeded: 0x97,
  administrativeAction: 0x98,
  payloadFormatInvalid: 0x99,
  qosNotSupported: 0x9b,
  sharedSubscriptionsNotSupported: 0x9e,
} as const;

export type ReasonCode = (typeof RC)[keyof typeof RC];

/** CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2.3]. */
const V3_CONNACK: Partial<Record<number, number>> = {
  [RC.success]: 0,
  [RC.unsupportedProtocolVersion]: 1,
  [RC.clientIdNotValid]: 2,
  [RC.serverUnavailable]: 3,
  [RC.serverBusy]: 3,
  [RC.quotaExceeded]: 3,
  [RC.badUsernameOrPassword]: 4,
  [RC.notAuthorized]: 5,
  [RC.banned]: 5,
  [RC.badAuthenticationMethod]: 5,
};

export function v3ConnackCode(v5Code: number): number {
  return V3_CONNACK[v5Code] ?? 3;
}

/** SUBACK: v3.1.1 knows granted QoS 0–2 and 0x80 failure only. */
export function v3SubackCode(v5Code: number): number {
  return v5Code < 0x80 ? v5Code : 0x80;
}

export type AuthDenyCode = typeof RC.badUsernameOrPassword | typeof RC.notAuthorized | typeof RC.serverUnavailable | typeof RC.banned;

export function connackCodeForDenial(reason: string, unavailable: boolean | undefined): AuthDenyCode {
  if (unavailable || reason === 'unavailable') return RC.serverUnavailable;
  if (reason === 'bad_credentials') return RC.badUsernameOrPassword;
  if (reason === 'banned') return RC.banned;
  return RC.notAuthorized;
}
