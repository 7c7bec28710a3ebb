import type { Message } from '../session.ts';

/**
 * Inbound payloads are views into the socket chunk they arrived in (publish-codec.ts). A message
 * that is kept (retained, queued, in flight) gets its own copy, once, so it does not pin the whole chunk.
 */
export function ownPayload(message: Message): void {
  if (message.payloadOwned) return;
  message.payloadOwned = true;
  message.payload = Buffer.from(message.payload);
}
