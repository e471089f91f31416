// The pipe handshake with one write tampered in flight (in-memory streams, no socket): only typed errors, never a wrong identity.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isP2PError } from "../../src/errors.ts";
import { mitm, targets } from "../../fuzz/targets/handshake.ts";
import { fuzzTargets } from "./targets.ts";

describe("fuzz: handshake", () => {
  fuzzTargets(targets);

  it("the untampered exchange completes (the man in the middle is transparent)", async () => {
    const r = await mitm({ dir: 0, index: 0, cut: false, ops: [], junk: new Uint8Array(0), expectId: true, params: { maxMessageSize: 65536 } });
    assert.ok(!(r.initiator instanceof Error) && !(r.responder instanceof Error));
  });

  it("a cut connection fails both sides with typed errors, not at their timers", async () => {
    for (const dir of [0, 1] as const) {
      for (let index = 0; index < 3; index++) {
        const r = await mitm({ dir, index, cut: true, ops: [], junk: new Uint8Array(0), expectId: false, params: { maxMessageSize: 1 } });
        for (const side of [r.initiator, r.responder]) if (side instanceof Error) assert.ok(isP2PError(side), String(side));
      }
    }
  });
});

describe("handshake: bytes a peer sends while accept() is pending", () => {
  // Found with this harness: the Reader concatenated every chunk with no cap (32 MB in 16 KB chunks during an async accept() cost minutes of CPU).
  it("are bounded (the handshake fails or holds at most 64 KiB)", async () => {
    const { Duplex } = await import("node:stream");
    const { handshake } = await import("../../src/session/handshake.ts");
    const { fixedIdentity } = await import("../../fuzz/keys.ts");
    class End extends Duplex {
      peer?: End;
      override _read(): void {}
      override _write(c: Buffer, _e: BufferEncoding, cb: () => void): void {
        this.peer?.push(c);
        cb();
      }
    }
    const a = new End();
    const b = new End();
    a.peer = b;
    b.peer = a;
    const chunk = Buffer.alloc(16 * 1024);
    const res = handshake(b, {
      identity: fixedIdentity(4),
      role: "responder",
      params: { maxMessageSize: 1 },
      timeout: 10_000,
      // 1 MiB arrives while the application decides (small: with the bug each chunk re-copies all before it).
      accept: async () => {
        for (let i = 0; i < 64; i++) b.push(chunk);
        return true;
      },
    }).then((r) => r.leftover.length, (e: Error) => (isP2PError(e) ? 0 : Promise.reject(e)));
    const ini = handshake(a, { identity: fixedIdentity(3), role: "initiator", params: { maxMessageSize: 1 }, timeout: 10_000 }).catch(() => undefined);
    const held = await res;
    a.push(null); // a refusing responder leaves the in-memory stream open: end it rather than wait for the initiator's timer
    await ini;
    assert.ok(held <= 64 * 1024, `responder held ${held} bytes`);
  });
});
