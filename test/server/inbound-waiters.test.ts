/** Reverse-connect waiters on fake time: claimed by the right peer only, failed by a wrong one, freed on timeout and abort. */
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { AbortError, PeerIdentityError, TimeoutError } from "../../src/errors.ts";
import { Identity } from "../../src/identity/identity.ts";
import { InboundWaiters } from "../../src/server/inbound-waiters.ts";
import type { DialResult } from "../../src/strategies/strategy.ts";
import { FakeTime } from "../../src/util/clock.ts";

const peer = Identity.generate().id;
const other = Identity.generate().id;
const session = (id: string) => ({ stream: new PassThrough(), session: { remoteId: id }, role: "responder" }) as unknown as DialResult;

test("the expected peer's session claims the waiter; a token from nobody waited for claims nothing", async () => {
  const time = new FakeTime();
  const w = new InboundWaiters({ timers: time });
  const waiting = w.expect(peer, "tok", { timeout: 1000, signal: new AbortController().signal });
  assert.equal(w.claim("nope", peer), undefined);
  const claim = w.claim("tok", peer);
  assert.equal(typeof claim, "function");
  const res = session(peer);
  (claim as (r: DialResult) => void)(res);
  assert.equal(await waiting, res);
  assert.equal(w.size, 0);
  assert.equal(time.pending, 0, "its timer was freed");
});

test("another identity with the token: PeerIdentityError at once (only the asked peer knows the token), the waiter and its timer freed", async () => {
  const time = new FakeTime();
  const w = new InboundWaiters({ timers: time });
  const waiting = w.expect(peer, "tok", { timeout: 1000, signal: new AbortController().signal });
  assert.equal(w.claim("tok", other), "wrong-peer");
  await assert.rejects(waiting, (e: Error) => e instanceof PeerIdentityError && e.message.includes(other) && e.message.includes(peer));
  assert.equal(w.size, 0);
  assert.equal(time.pending, 0);
  assert.equal(w.claim("tok", peer), undefined, "the token is spent");
});

test("no one connects back: TimeoutError exactly at the timeout, not a millisecond before", async () => {
  const time = new FakeTime();
  const w = new InboundWaiters({ timers: time });
  let outcome: unknown = "pending";
  const waiting = w.expect(peer, "tok", { timeout: 1000, signal: new AbortController().signal }).catch((e: unknown) => (outcome = e));
  await time.advance(999);
  assert.equal(outcome, "pending");
  await time.advance(1);
  await waiting;
  assert.ok((outcome as unknown) instanceof TimeoutError, String(outcome));
  assert.equal(w.size, 0);
  assert.equal(w.claim("tok", peer), undefined, "a late session finds no waiter");
});

test("the caller's signal: AbortError, and the timer and the token are freed", async () => {
  const time = new FakeTime();
  const w = new InboundWaiters({ timers: time });
  const ctrl = new AbortController();
  const waiting = w.expect(peer, "tok", { timeout: 1000, signal: ctrl.signal });
  ctrl.abort();
  await assert.rejects(waiting, (e: Error) => e instanceof AbortError && !(e instanceof TimeoutError));
  assert.equal(w.size, 0);
  assert.equal(time.pending, 0);
});

test("a signal already aborted rejects at once (nothing is registered)", async () => {
  const time = new FakeTime();
  const w = new InboundWaiters({ timers: time });
  await assert.rejects(w.expect(peer, "tok", { timeout: 1000, signal: AbortSignal.abort() }), AbortError);
  assert.equal(w.size, 0);
  assert.equal(time.pending, 0);
});
