// Issue 9 item 6: punch preambles prove the token, they do not carry it. Through runPunch on
// loopback: the responder's passive punch port (listen, as for a LAN peer) accepts real
// connections; an observer that read the HELLO cannot turn it into a NOMINATE, and the
// initiator that holds the token can.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { describe, test } from "node:test";
import { PREAMBLE_LENGTH, PreambleKind, decodePreamble, encodePreamble, verifyPreamble } from "../../../src/strategies/punch/preamble.ts";
import { runPunch } from "../../../src/strategies/punch/session.ts";
import { closedPorts } from "./harness.ts";

const now = () => performance.timeOrigin + performance.now();

/** Connects to 127.0.0.1:port, retrying while the punch port is not listening yet (no clock involved). */
async function connectWhenListening(port: number): Promise<net.Socket> {
  for (;;) {
    const s = net.connect({ host: "127.0.0.1", port });
    const ok = await new Promise<boolean>((resolve) => {
      s.once("connect", () => resolve(true));
      s.once("error", () => resolve(false));
    });
    if (ok) return s;
    s.destroy();
    await new Promise((r) => setImmediate(r));
  }
}

function readExactly(s: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onReadable = () => {
      const b = s.read(n) as Buffer | null;
      if (b) {
        s.off("readable", onReadable);
        resolve(b);
      }
    };
    s.on("readable", onReadable);
    s.once("error", reject);
  });
}

describe("punch preamble proofs on a real connection", () => {
  test("a reflected HELLO is no NOMINATE; the token is never on the wire; the token holder is nominated", async () => {
    const token = randomBytes(16);
    const [punchPort, closed] = await closedPorts(2);
    const startAt = now();
    const ctrl = new AbortController();
    const punch = runPunch({ role: "responder", token, localAddress: "127.0.0.1", localPorts: [punchPort], targets: [{ ip: "127.0.0.1", port: closed, kind: "lan" }], listen: true, startAt, windowEnd: startAt + 30_000, signal: ctrl.signal });
    try {
      // The observer: reads the responder's HELLO and sends it back as a NOMINATE.
      const spy = await connectWhenListening(punchPort);
      const hello = await readExactly(spy, PREAMBLE_LENGTH);
      assert.equal(hello.indexOf(token), -1, "the token is not in the HELLO");
      const p = decodePreamble(hello);
      assert.equal(p.kind, PreambleKind.HELLO);
      assert.ok(verifyPreamble(p, token, PreambleKind.HELLO), "the HELLO proves the token");
      const forged = Buffer.from(hello);
      forged[4] = PreambleKind.NOMINATE;
      const spyClosed = new Promise<string>((r) => spy.once("close", () => r("dropped")));
      spy.on("error", () => {});
      spy.write(forged);
      const first = await Promise.race([spyClosed, punch.then(() => "nominated")]);
      assert.equal(first, "dropped", "the forged NOMINATE must not win");

      // The initiator: it holds the token, so its NOMINATE verifies.
      const peer = await connectWhenListening(punchPort);
      const hello2 = decodePreamble(await readExactly(peer, PREAMBLE_LENGTH));
      assert.ok(verifyPreamble(hello2, token, PreambleKind.HELLO));
      const nominate = encodePreamble({ kind: PreambleKind.NOMINATE, token, startedAt: now() });
      assert.equal(nominate.indexOf(token), -1, "nor in the NOMINATE");
      peer.write(nominate);
      const res = await punch;
      assert.equal(res.socket.remotePort, peer.localPort, "the token holder's connection is the one kept");
      res.socket.destroy();
      peer.destroy();
    } finally {
      ctrl.abort();
      await punch.catch(() => {});
    }
  });
});
