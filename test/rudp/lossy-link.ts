/**
 * An in-memory datagram link for reliable-UDP tests, on FakeTime (or real time): seeded loss,
 * delay with jitter (which reorders), duplication and an optional bottleneck
 * with a drop-tail queue. Deterministic for a given seed.
 */
import type { Clock, Timers } from "../../src/util/clock.ts";

export interface LinkOptions {
  lossPct?: number;
  delayMs?: number;
  jitterMs?: number;
  dupPct?: number;
  /** Bottleneck rate in bytes per second (unlimited when absent). */
  rateBps?: number;
  /** Drop-tail queue at the bottleneck, bytes. @default 64 KiB */
  queueBytes?: number;
  seed?: number;
}

/** mulberry32: small, seeded, good enough for test noise. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One direction of the link: send(bytes) delivers to `deliver` later (or never). */
export function direction(t: Clock & Timers, o: LinkOptions, deliver: (b: Uint8Array) => void): { send(b: Uint8Array): void; stats: { sent: number; dropped: number; queued: number }; cut(): void } {
  const rand = rng(o.seed ?? 1);
  const stats = { sent: 0, dropped: 0, queued: 0 };
  let busyUntil = 0;
  let cut = false;
  return {
    stats,
    cut: () => (cut = true),
    send(b) {
      stats.sent++;
      if (cut || rand() * 100 < (o.lossPct ?? 0)) {
        stats.dropped++;
        return;
      }
      let at = t.now();
      if (o.rateBps) {
        const start = Math.max(at, busyUntil);
        if ((start - at) * (o.rateBps / 1000) > (o.queueBytes ?? 65536)) {
          stats.queued++;
          return;
        }
        busyUntil = start + (b.length * 1000) / o.rateBps;
        at = busyUntil;
      }
      const copies = rand() * 100 < (o.dupPct ?? 0) ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        const delay = (o.delayMs ?? 0) + rand() * (o.jitterMs ?? 0);
        const bytes = b.slice();
        t.setTimeout(() => deliver(bytes), at - t.now() + delay);
      }
    },
  };
}
