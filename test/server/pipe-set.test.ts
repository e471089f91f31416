/**
 * PipeSet: a pipe the peer closed is still flushing its last frames (its
 * CLOSE, then FIN) when its `closed` resolves; the node's close() must wait
 * for that, or a process that exits right after node.close() drops them — seen
 * in the lab over a reliable-UDP relay path, where the peer then waited out its
 * dead-peer timeout instead of closing cleanly.
 */
import assert from "node:assert/strict";
import { Duplex } from "node:stream";
import { describe, it } from "node:test";
import { PipeSet } from "../../src/server/pipes.ts";
import { FakeTime } from "../../src/util/clock.ts";
import { silentLogger as nullLogger } from "../../src/util/logger.ts";
import { PIPE_DEFAULTS } from "../../src/pipe/options.ts";
import { sessionPair } from "../pipe/memory-pair.ts";

/** Two linked streams; `holdFinal` on one keeps its end() from completing until `release()`. */
function linkedPair(holdFinal: "a" | "b") {
  let release: () => void = () => {};
  const make = (name: "a" | "b"): Duplex =>
    new Duplex({
      allowHalfOpen: true,
      write(chunk: Buffer, _enc, cb) {
        peerOf(name).push(chunk);
        cb();
      },
      read() {},
      final(cb) {
        const fin = () => (peerOf(name).push(null), cb());
        if (name === holdFinal) release = fin;
        else fin();
      },
    });
  const a = make("a");
  const b = make("b");
  const peerOf = (n: "a" | "b") => (n === "a" ? b : a);
  return { a, b, release: () => release() };
}

/** Two nodes' pipe sets on one fake clock, a pipe between them whose b side holds its FIN until released. */
function twoSets() {
  const time = new FakeTime();
  const opts = { logger: nullLogger, clock: time, timers: time, pipeOptions: { ...PIPE_DEFAULTS } };
  const sa = new PipeSet(opts);
  const sb = new PipeSet(opts);
  const [ka, kb] = sessionPair();
  const link = linkedPair("b");
  const a = sa.adopt({ stream: link.a, session: ka, role: "initiator" }, "memory", false);
  const b = sb.adopt({ stream: link.b, session: kb, role: "responder" }, "memory", true);
  return { time, sa, sb, link, a, b };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("PipeSet", () => {
  it("closeAll() waits for a pipe the peer closed until its transport let go (its FIN flushed)", async () => {
    const { time, sa, sb, link, a, b } = twoSets();
    await a.send("hi");
    assert.equal((await b.recv()).text, "hi");

    const aClosing = a.close();
    assert.equal(await b.closed, undefined, "the peer's close ended b cleanly");
    let bDone = false;
    void sb.closeAll().then(() => (bDone = true));
    for (let i = 0; i < 5; i++) await tick();
    assert.equal(bDone, false, "b's node may not finish closing while b's FIN is still queued");
    assert.equal(sb.pipes.size, 0, "b is no longer an open pipe");

    link.release();
    for (let i = 0; i < 5 && !bDone; i++) await tick();
    assert.equal(bDone, true, "closeAll() resolves once b's transport let go");
    assert.equal(await aClosing, undefined);
    assert.equal(await a.closed, undefined);
  });

  it("closeAll() is bounded by the linger when the FIN never flushes", async () => {
    const { time, sa, sb, link, a, b } = twoSets();
    void a.close();
    assert.equal(await b.closed, undefined);
    let bDone = false;
    void sb.closeAll().then(() => (bDone = true));
    await tick();
    assert.equal(bDone, false);
    await time.advance(1000);
    for (let i = 0; i < 5 && !bDone; i++) await tick();
    assert.equal(bDone, true, "cut after the linger");
    assert.equal(link.b.destroyed, true, "b's stream is freed");
    void sa.closeAll();
    await time.advance(10_000);
  });
});
