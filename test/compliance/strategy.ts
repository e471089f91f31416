/**
 * The strategy compliance suite: one set of cases every connection strategy
 * must pass: direct, reverse, punch and turn (strategies.test.ts on loopback,
 * lab.test.ts through the NAT lab). A strategy brings a fixture (real nodes,
 * embedded servers, impostors of its own kind) and the suite
 * checks the contract of src/strategies/strategy.ts:
 *
 * - an abort frees every socket and timer and rejects with AbortError;
 * - the strategy holds its own deadline (opts.timeout, on the node's timers)
 *   and says what ran out, with a typed error;
 * - a failure is typed and names its reason;
 * - a peer proving another identity than its address names never becomes a pipe;
 * - nothing of the application's reaches the peer, or the wire, before the
 *   session is authenticated: every strategy's raw stream is tapped from the
 *   moment it reaches the handshake (the handshake's messages first, then
 *   sealed records only); direct is also watched through a TCP proxy, and
 *   the lab captures every frame on the peer's host.
 *
 * Time-based cases run the strategy on FakeTime (the DialContext's clock and
 * timers), so they assert what happens at the deadline and not how long it took.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { AbortError, ConnectError } from "../../src/errors.ts";
import type { Node } from "../../src/node.ts";
import type { Pipe } from "../../src/pipe/pipe.ts";
import type { StrategyName } from "../../src/strategies/strategy.ts";
import { PROTOCOL_VERSION } from "../../src/session/handshake.ts";
import { FakeTime } from "../../src/util/clock.ts";
import { backTo, Probe, settledResources, state, until, WireTap } from "./probe.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ErrorClass = new (...args: any[]) => Error;

/** Either a value, or why this environment cannot provide it (the case is skipped with that reason). */
export type Or<T> = T | { none: string };
const none = <T extends object>(v: Or<T>): string | undefined => ("none" in v ? (v as { none: string }).none : undefined);

export interface ComplianceFixture {
  /** The dialling node; its only strategy is `probe`. */
  client: Node;
  probe: Probe;
  /** A peer this strategy connects to here (an echoPeer() node, or one in another lab host). */
  peer: Or<ComplianceSubject>;
  /** A dial to this address starts and then hears nothing back (a silent server, a node that is not there). */
  silent: string;
  /**
   * True once a dial to `silent` is under way; `signalingCalls` counts what the
   * strategy sent over signaling, `progressCalls` its progress events.
   */
  inFlight(signalingCalls: number, progressCalls: number): boolean;
  /** The typed error (and message) when the strategy's own deadline passes. */
  deadline: { error: ErrorClass; reason: RegExp };
  /** An address the strategy cannot connect to, and the failure it must report (inside ConnectError.errors). */
  unreachable: Or<Unreachable>;
  /**
   * The peer's address signed by another key. `run` dials it and resolves once
   * it has failed as it must (each strategy checks identity at its own point).
   */
  impostor: Or<{ run(): Promise<void> }>;
  /** The session's stream reaches the client's listener (reverse: the peer dials back), not the strategy's dial. */
  inbound?: boolean;
  /** The peer's address re-signed to reach it through a TCP proxy on `port` (to see the wire). */
  proxied: Or<{ address(port: number): string; target: number }>;
}

export interface Unreachable {
  address: string;
  error: ErrorClass;
  reason: RegExp;
}

/** The application's message of the plaintext checks. */
export const MARKER = "compliance-marker-4f1d9c";

/** The peer as the suite sees it. */
export interface ComplianceSubject {
  addr: string;
  id: string;
  /** What it answers to a message `text`. */
  reply(text: string): string;
  /** What it saw, when it runs in this process ('pipe <strategy>' and 'message <text>', with the sender). */
  seen?: Array<{ event: string; from: string }>;
}

/** Makes `node` a compliance peer: it answers "echo:" + text and records what it sees. */
export function echoPeer(node: Node): ComplianceSubject {
  const seen: Array<{ event: string; from: string }> = [];
  node.on("pipe", (p: Pipe) => seen.push({ event: `pipe ${p.strategy}`, from: p.remoteId }));
  node.onMessage((m, p) => {
    seen.push({ event: `message ${m.text}`, from: p.remoteId });
    void p.send(`echo:${m.text}`);
  });
  return { addr: node.addr, id: node.id, reply: (text) => `echo:${text}`, seen };
}

export interface ComplianceSpec {
  name: StrategyName;
  setup(): Promise<ComplianceFixture>;
  teardown(f: ComplianceFixture): Promise<void>;
}

const BUDGET = 4000;

export function strategyCompliance(spec: ComplianceSpec): void {
  describe(`strategy compliance: ${spec.name}`, () => {
    let f: ComplianceFixture;
    before(async () => {
      f = await spec.setup();
      assert.equal(f.probe.name, spec.name);
    });
    after(() => spec.teardown(f));

    test("connects: an authenticated pipe of this strategy; the peer gets the message on that session", async (t) => {
      if (none(f.peer)) return t.skip(none(f.peer));
      const peer = f.peer as ComplianceSubject;
      peer.seen?.splice(0);
      const pipe = await f.client.connect(peer.addr, { strategies: [spec.name], timeout: 15_000 });
      assert.equal(pipe.strategy, spec.name);
      assert.equal(pipe.remoteId, peer.id);
      await pipe.send("hello");
      assert.equal((await pipe.recv({ timeout: 5000 })).text, peer.reply("hello"));
      await pipe.close();
      if (!peer.seen) return; // a peer in another process: its own log shows what it saw
      // Both on the authenticated session of the client. Not in a fixed order yet: a record that
      // arrives with the handshake's last message is delivered while the Pipe is built, before the
      // node's 'pipe' event (src/pipe/pipe.ts feeds session.leftover in its constructor; reverse shows it).
      const byEvent = (a: { event: string }, b: { event: string }) => a.event.localeCompare(b.event);
      assert.deepEqual([...peer.seen].sort(byEvent), [
        { event: "message hello", from: f.client.id },
        { event: `pipe ${spec.name}`, from: f.client.id },
      ]);
    });

    test("no plaintext on the wire: the handshake and the records only", async (t) => {
      if (none(f.proxied) || none(f.peer)) return t.skip(none(f.proxied) ?? none(f.peer));
      const via = f.proxied as { address(port: number): string; target: number };
      const seen: Buffer[] = [];
      const proxy = net.createServer((down) => {
        const up = net.connect({ host: "127.0.0.1", port: via.target });
        down.on("data", (b) => (seen.push(b), up.write(b)));
        up.on("data", (b) => (seen.push(b), down.write(b)));
        const end = () => (down.destroy(), up.destroy());
        down.on("close", end).on("error", end);
        up.on("close", end).on("error", end);
      });
      await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
      try {
        const marker = MARKER;
        const pipe = await f.client.connect(via.address((proxy.address() as net.AddressInfo).port), { strategies: [spec.name], timeout: 15_000 });
        await pipe.send(marker);
        assert.equal((await pipe.recv({ timeout: 5000 })).text, (f.peer as ComplianceSubject).reply(marker));
        await pipe.close();
        const wire = Buffer.concat(seen);
        assert.ok(wire.length > 0, "the proxy carried the connection");
        assert.equal(wire.includes(marker), false, "the message crossed in the clear");
      } finally {
        await new Promise<void>((r) => proxy.close(() => r()));
      }
    });

    test("no data before authentication: the raw stream carries the handshake first, then sealed records; the message never in the clear", async (t) => {
      if (none(f.peer)) return t.skip(none(f.peer));
      const peer = f.peer as ComplianceSubject;
      const listener = f.inbound ? WireTap.inbound(f.client.port) : undefined;
      const tap = listener?.tap ?? f.probe.tapNext();
      let pipe: Pipe;
      try {
        pipe = await f.client.connect(peer.addr, { strategies: [spec.name], timeout: 15_000 });
        listener?.authenticated();
      } finally {
        listener?.stop();
      }
      await pipe.send(MARKER);
      assert.equal((await pipe.recv({ timeout: 5000 })).text, peer.reply(MARKER));
      await pipe.close();
      assert.ok(tap.chunks.length > 0, "the strategy handed its stream to the handshake");
      for (const dir of ["out", "in"] as const) {
        // The first bytes each way are a whole handshake message (length, version, HELLO / REPLY / FINISH), nothing of ours.
        const first = tap.bytes({ authenticated: false, dir });
        assert.ok(first.length >= 4, `handshake bytes ${dir} before the session was authenticated`);
        assert.ok(first.readUInt16BE(0) + 2 <= first.length, `a whole handshake message ${dir} before the session was authenticated`);
        assert.equal(first[2], PROTOCOL_VERSION, `the first message ${dir} carries the handshake's version`);
        assert.ok(first[3] >= 1 && first[3] <= 3, `the first message ${dir} is a handshake message (type ${first[3]})`);
      }
      assert.ok(tap.bytes({ authenticated: true }).length > 0, "the tap saw the records after the handshake (the pipe's own stream)");
      const wire = tap.bytes();
      assert.equal(wire.includes(MARKER), false, "the message crossed in the clear");
      assert.equal(wire.includes(peer.reply(MARKER)), false, "the reply crossed in the clear");
    });

    test("abort in flight: AbortError, and every socket and timer is freed", async () => {
      const { ctx, signalingCalls, progressCalls } = await f.probe.context(f.client, f.silent);
      const time = new FakeTime();
      const baseline = await settledResources();
      const ctrl = new AbortController();
      const p = f.probe.inner.dial({ ...ctx, clock: time, timers: time }, { signal: ctrl.signal, timeout: BUDGET });
      const rejected = assert.rejects(p, AbortError);
      await until(() => f.inFlight(signalingCalls(), progressCalls()), "the dial to get under way");
      assert.ok(time.pending > 0, "the strategy keeps its deadline on the context's timers");
      ctrl.abort();
      await rejected;
      assert.equal(time.pending, 0, "timers on the context's timers freed");
      await backTo(baseline, "after an abort");
    });

    test("deadline: the strategy stops itself at opts.timeout, typed, naming what ran out", async () => {
      const { ctx, signalingCalls, progressCalls } = await f.probe.context(f.client, f.silent);
      const time = new FakeTime();
      const baseline = await settledResources();
      const p = f.probe.inner.dial({ ...ctx, clock: time, timers: time }, { signal: new AbortController().signal, timeout: BUDGET });
      const rejected = assert.rejects(p, (err: Error) => {
        assert.ok(err instanceof f.deadline.error, `${err.name}: ${err.message}`);
        assert.match(err.message, f.deadline.reason);
        return true;
      });
      await until(() => f.inFlight(signalingCalls(), progressCalls()), "the dial to get under way");
      await time.advance(BUDGET - 1);
      assert.equal(await state(p), "pending", "not given up before its deadline");
      await time.advance(1);
      await rejected;
      assert.equal(time.pending, 0);
      await backTo(baseline, "after the deadline");
    });

    test("a failure is typed and names its reason", async (t) => {
      if (none(f.unreachable)) return t.skip(none(f.unreachable));
      const unreachable = f.unreachable as Unreachable;
      const err = await f.client.connect(unreachable.address, { strategies: [spec.name], timeout: 15_000 }).then(
        () => assert.fail("connected to an unreachable peer"),
        (e: Error) => e,
      );
      assert.ok(err instanceof ConnectError, `${err.name}: ${err.message}`);
      assert.equal(err.errors.length, 1);
      const cause = err.errors[0];
      assert.ok(cause instanceof unreachable.error, `${cause.name}: ${cause.message}`);
      assert.match(cause.message, unreachable.reason);
    });

    test("a peer proving another identity never becomes a pipe", async (t) => {
      if (none(f.impostor)) return t.skip(none(f.impostor));
      const before = f.client.pipes.size;
      await (f.impostor as { run(): Promise<void> }).run();
      assert.equal(f.client.pipes.size, before, "no pipe on the dialling side");
    });
  });
}
