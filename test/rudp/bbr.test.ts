import assert from "node:assert/strict";
import { test } from "node:test";
import { Bbr } from "../../src/rudp/bbr.ts";

test("BBR: startup until the rate stops growing, drain, then probe; loss does not shrink the window; a timeout restarts the model", () => {
  const b = new Bbr(10);
  assert.equal(b.cwnd, 10);
  assert.equal(b.pacingRate, Infinity, "the initial window goes out unpaced");
  let now = 0;
  const round = (rate: number, inFlight: number) => {
    now += 40;
    b.onSample({ rate, rttMs: 40, newRound: true }, inFlight, now, 10);
  };
  round(0.5, 20);
  round(1, 40);
  round(1.5, 60);
  assert.equal(b.mode, "startup");
  assert.ok(Math.abs(b.pacingRate - 2.885 * 1.5) < 1e-9);
  round(1.6, 200);
  round(1.6, 200);
  round(1.6, 200);
  assert.equal(b.mode, "drain", "three rounds without 25 % growth");
  b.onSample({ rate: 1.6, rttMs: 40, newRound: false }, 60, now, 1);
  assert.equal(b.mode, "probe-bw", "the queue drained below one BDP");
  assert.equal(b.cwnd, Math.ceil(2 * 1.6 * 40));
  b.onLoss(50);
  assert.equal(b.cwnd, Math.ceil(2 * 1.6 * 40), "random loss leaves the window alone");
  b.onTimeout();
  assert.deepEqual([b.mode, b.cwnd], ["startup", 10]);
});

test("BBR: startup ends on a round that loses more than 15 % (a shallow queue overflowing)", () => {
  const b = new Bbr(10);
  b.onSample({ rate: 1, rttMs: 40, newRound: true }, 10, 40, 100);
  b.onLoss(40);
  b.onSample({ rate: 2, rttMs: 40, newRound: true }, 200, 80, 100);
  assert.notEqual(b.mode, "startup");
});

test("BBR: the minimum RTT expires after 10 s; ambiguous samples (rtt 0) never set it", () => {
  const b = new Bbr();
  b.onSample({ rate: 1, rttMs: 0, newRound: false }, 1, 0);
  assert.equal(b.minRtt, Infinity);
  b.onSample({ rate: 1, rttMs: 20, newRound: false }, 1, 0);
  b.onSample({ rate: 1, rttMs: 50, newRound: false }, 1, 5000);
  assert.equal(b.minRtt, 20);
  b.onSample({ rate: 1, rttMs: 50, newRound: false }, 1, 10_001);
  assert.equal(b.minRtt, 50);
});
