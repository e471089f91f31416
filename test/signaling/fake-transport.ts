// An in-memory SignalTransport hub on FakeTime: every node's transport, one
// delivery delay, a record of each send, and rules to lose messages. Lets the
// request layer's retries, deadlines and replay window run without a broker.
import { EventEmitter } from "node:events";
import type { NodeId } from "../../src/identity/identity.ts";
import type { FakeTime } from "../../src/util/clock.ts";
import type { BrokerStatus, SendOptions, SendResult, SignalTransport, TransportEvents } from "../../src/signaling/mqtt-transport.ts";

export const FAKE_BROKER = "mqtt://127.0.0.1:1883";

export interface SentRecord {
  from: NodeId;
  to: NodeId;
  /** FakeTime ms since the hub was made. */
  at: number;
  bytes: Uint8Array;
}

export class FakeHub {
  readonly sent: SentRecord[] = [];
  readonly #nodes = new Map<NodeId, FakeTransport>();
  readonly #start: number;
  /** Return true to lose a message (it is still recorded in `sent`). */
  drop: (r: SentRecord) => boolean = () => false;
  /** Make send() reject with this (the requester's "not delivered" path). */
  failSends: Error | undefined;

  constructor(
    readonly time: FakeTime,
    readonly delayMs = 10,
  ) {
    this.#start = time.now();
  }

  transport(id: NodeId): FakeTransport {
    const t = new FakeTransport(this, id);
    this.#nodes.set(id, t);
    return t;
  }

  /** Sends from `from` to `to`, as the transport would. */
  deliver(from: NodeId, to: NodeId, bytes: Uint8Array): void {
    const r: SentRecord = { from, to, at: this.time.now() - this.#start, bytes };
    this.sent.push(r);
    if (this.drop(r)) return;
    this.time.setTimeout(() => this.#nodes.get(to)?.emit("message", bytes, { broker: FAKE_BROKER }), this.delayMs);
  }

  /** Sends recorded from `from` to `to`. */
  between(from: NodeId, to: NodeId): SentRecord[] {
    return this.sent.filter((r) => r.from === from && r.to === to);
  }
}

export class FakeTransport extends EventEmitter<TransportEvents> implements SignalTransport {
  readonly brokerUrls: readonly string[] = [FAKE_BROKER];
  closed = 0;

  constructor(
    readonly hub: FakeHub,
    readonly id: NodeId,
  ) {
    super();
  }

  async start(): Promise<BrokerStatus[]> {
    return this.status();
  }

  async send(peer: NodeId, _brokers: readonly string[], payload: Uint8Array, _opts?: SendOptions): Promise<SendResult> {
    if (this.hub.failSends) throw this.hub.failSends;
    this.hub.deliver(this.id, peer, payload);
    return { broker: FAKE_BROKER };
  }

  status(): BrokerStatus[] {
    return [{ url: FAKE_BROKER, state: "up" }];
  }

  async close(): Promise<void> {
    this.closed++;
  }
}
