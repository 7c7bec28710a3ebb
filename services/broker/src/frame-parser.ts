import mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import type { Connection } from './connection.ts';

const SETTINGS = { 3: { protocolVersion: 3 }, 4: { protocolVersion: 4 }, 5: { protocolVersion: 5 } } as const;

/**
 * One mqtt-packet parser for every connection of a broker (each BrokerCore owns one): the framer
 * in connection.ts only ever hands it whole frames, so it returns to its initial state after each
 * one and nothing is kept per connection (a parser with its buffer list costs ~1 KB per idle
 * connection). Parsing is synchronous, so `#parsing` names the connection the parser's events
 * belong to.
 */
export class FrameParser {
  #parsing: Connection | undefined;
  // mqtt-packet does not fully recover from an error (its state machine is left mid-packet), so a
  // parser that reported one is replaced before the next frame.
  #failed = false;
  #parser = this.#create();
  /** Set while a SUBSCRIBE cut at the filter cap is parsed: how many filters were cut off. */
  filtersBeyondCap = 0;

  #create(): mqtt.Parser & { settings: object } {
    const parser = mqtt.parser({ protocolVersion: 4 }) as mqtt.Parser & { settings: object };
    parser.on('packet', (packet: Packet) => this.#parsing?.onParsedPacket(packet));
    parser.on('error', (err: Error) => {
      this.#failed = true;
      this.#parsing?.onParseError(err);
    });
    return parser;
  }

  parse(conn: Connection, frame: Buffer): void {
    if (this.#failed) {
      this.#failed = false;
      this.#parser = this.#create();
    }
    const previous = this.#parsing;
    this.#parsing = conn;
    // A CONNECT replaces the parser's settings with itself: reset them to this connection's.
    this.#parser.settings = SETTINGS[conn.protocolVersion];
    try {
      this.#parser.parse(frame);
    } catch (err) {
      // Thrown mid-packet (not reported as 'error'): its state is unknown, so it is not reused.
      this.#failed = true;
      throw err;
    } finally {
      this.#parsing = previous;
    }
  }
}
