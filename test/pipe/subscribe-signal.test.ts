/** pipe.subscribe(filter, { signal }): aborting ends the subscription, so a `for await` over it stops without destroying the pipe. */
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { describe, it } from "node:test";
import type { Message } from "../../src/pipe/message.ts";
import { pipePair } from "./memory-pair.ts";

describe("pipe.subscribe with a signal", () => {
  it("aborting ends a for-await quietly; the pipe stays open and later messages go to recv()", async () => {
    const { a, b, time } = pipePair();
    const ac = new AbortController();
    const sub = b.subscribe(undefined, { signal: ac.signal });
    const seen: string[] = [];
    const loop = (async () => {
      for await (const m of sub as AsyncIterable<Message>) {
        seen.push(m.text);
        if (seen.length === 2) ac.abort();
      }
      return "ended";
    })();
    await a.send("one");
    await a.send("two");
    await time.advance(0);
    assert.equal(await loop, "ended");
    assert.deepEqual(seen, ["one", "two"]);
    assert.equal(b.state, "open");
    await a.send("three");
    const next = b.recv({ timeout: 0 });
    await time.advance(0);
    assert.equal((await next).text, "three", "the ended subscription takes nothing more");
    void a.destroy();
    void b.destroy();
  });

  it("an already aborted signal gives an ended subscription; a waiting next() rejects on abort", async () => {
    const { a, b } = pipePair();
    const done = new AbortController();
    done.abort();
    const ended = b.subscribe(undefined, { signal: done.signal });
    const it = ended[Symbol.asyncIterator]();
    assert.deepEqual(await it.next(), { done: true, value: undefined });
    const ac = new AbortController();
    const sub = b.subscribe(undefined, { signal: ac.signal });
    const waiting = sub.next({ timeout: 0 });
    ac.abort();
    await assert.rejects(waiting, { name: "PipeClosedError" });
    void a.destroy();
    void b.destroy();
  });

  it("the abort listener is removed when the subscription or the pipe ends (a long-lived signal holds nothing)", async () => {
    const { a, b } = pipePair();
    const ac = new AbortController();
    const count = () => getEventListeners(ac.signal, "abort").length;
    const s1 = b.subscribe(undefined, { signal: ac.signal });
    b.subscribe("x", { signal: ac.signal });
    assert.equal(count(), 2);
    s1.close();
    assert.equal(count(), 1);
    await b.destroy();
    assert.equal(count(), 0);
    void a.destroy();
  });
});
