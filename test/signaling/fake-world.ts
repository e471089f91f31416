// A FakeTime world of signaling nodes over the in-memory hub, plus raw senders:
// identities that seal requests by hand and publish them to a node's topic (an
// attacker with publish rights needs nothing more). Answers to a raw sender are
// recorded by the hub (hub.between) and never delivered.
import { Identity } from "../../src/identity/identity.ts";
import { FakeTime } from "../../src/util/clock.ts";
import { newMessageId, seal } from "../../src/signaling/envelope.ts";
import { Signaling, type SignalingOptions } from "../../src/signaling/signaling.ts";
import { FAKE_BROKER, FakeHub } from "./fake-transport.ts";

export function world(delayMs = 10) {
  const time = new FakeTime();
  const hub = new FakeHub(time, delayMs);
  const nodes: Signaling[] = [];
  /** A node; `skew` is how far its clock is ahead of the world's (ms). */
  const node = (over: Partial<SignalingOptions> & { skew?: number } = {}) => {
    const { skew = 0, ...rest } = over;
    const identity = rest.identity ?? Identity.generate();
    const s = new Signaling({
      transport: hub.transport(identity.id),
      clock: { now: () => time.now() + skew },
      timers: time,
      allowPrivateBrokers: true,
      retryIntervalMs: 300,
      ackedRetryIntervalMs: 600,
      ...rest,
      identity,
    });
    nodes.push(s);
    return s;
  };
  /** Seals one request from `from` to `to` (a fresh seal each call; pass `id` to make a re-sent copy). */
  const request = (from: Identity, to: Signaling, type: string, body: unknown, o: { id?: string; timestamp?: number } = {}) =>
    seal(from, to.id, { type, body: { replyTo: [FAKE_BROKER], body }, id: o.id ?? newMessageId(), timestamp: o.timestamp ?? time.now() });
  /** Publishes raw bytes from `from` to `to` (delivered after the hub's delay). */
  const publish = (from: Identity, to: Signaling, bytes: Uint8Array) => hub.deliver(from.id, to.id, bytes);
  const closeAll = () => Promise.all(nodes.map((n) => n.close()));
  return { time, hub, node, request, publish, closeAll };
}

/** Tracks a promise's outcome without awaiting it. */
export function track<T>(p: Promise<T>) {
  const s: { done: boolean; value?: T; error?: unknown } = { done: false };
  p.then(
    (v) => Object.assign(s, { done: true, value: v }),
    (e) => Object.assign(s, { done: true, error: e }),
  );
  return s;
}
