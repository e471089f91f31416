import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import net from "node:net";
import { afterEach, describe, it } from "node:test";
import { InvalidArgumentError } from "../../src/errors.ts";
import { decideAdmission, HandshakeAdmission, sourceKey, type AdmissionDecision, type AdmissionState } from "../../src/server/handshake-admission.ts";
import { handshake } from "../../src/session/handshake.ts";
import { Identity } from "../../src/identity/identity.ts";
import { Pipe } from "../../src/pipe/pipe.ts";
import { loopbackNode, waitFor } from "../support/nodes.ts";

describe("sourceKey", () => {
  const cases: Array<[string | undefined, string | undefined]> = [
    ["127.0.0.1", "127.0.0.1"],
    ["203.0.113.7", "203.0.113.7"],
    ["::ffff:127.0.0.2", "127.0.0.2"], // how a dual-stack server reports IPv4 peers
    ["::FFFF:203.0.113.7", "203.0.113.7"],
    ["2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"],
    ["2001:db8:1:2::1", "2001:db8:1:2::/64"], // same /64 as above: one source
    ["2001:db8:1:3::1", "2001:db8:1:3::/64"],
    ["2001:0DB8:0001:0002::ffff", "2001:db8:1:2::/64"],
    ["::1", "0:0:0:0::/64"],
    ["fe80::1%eth0", undefined], // a zone cannot be counted under a prefix
    ["", undefined],
    [undefined, undefined],
    ["not an ip", undefined],
    ["1.2.3", undefined],
  ];
  for (const [address, key] of cases) it(`${String(address)} -> ${String(key)}`, () => assert.equal(sourceKey(address), key));
});

describe("decideAdmission (pure)", () => {
  const limits = { maxPending: 4, maxPerSource: 2 };
  const S = (o: Partial<AdmissionState<string>>): AdmissionState<string> => ({ total: 0, fromSource: 0, ...o });
  const cases: Array<[string, string | undefined, AdmissionState<string>, AdmissionDecision<string>]> = [
    ["no address", undefined, S({}), { admit: false, reason: "no-source" }],
    ["empty table", "a", S({}), { admit: true }],
    ["room: a source over its share is still admitted", "a", S({ total: 3, fromSource: 3 }), { admit: true }],
    ["full, source at its share: refused even with idle victims", "a", S({ total: 4, fromSource: 2, idle: "x", overShare: "y" }), { admit: false, reason: "source-limit" }],
    ["full, nothing to displace", "b", S({ total: 4, fromSource: 0 }), { admit: false, reason: "full" }],
    ["full: the oldest idle one goes", "b", S({ total: 4, fromSource: 1, idle: "x" }), { admit: true, shed: "x" }],
    ["full: an over-share one goes before an idle one", "b", S({ total: 4, idle: "x", overShare: "y" }), { admit: true, shed: "y" }],
    ["full: an idle over-share one goes first", "b", S({ total: 4, idle: "x", overShare: "y", overShareIdle: "z" }), { admit: true, shed: "z" }],
    ["over the cap (limits lowered at run time): same as full", "b", S({ total: 9, idle: "x" }), { admit: true, shed: "x" }],
  ];
  for (const [label, source, state, want] of cases) it(label, () => assert.deepEqual(decideAdmission(source, state, limits), want));
});

describe("HandshakeAdmission (counts)", () => {
  it("counts per IPv4 address and per IPv6 /64; release is idempotent", () => {
    const a = new HandshakeAdmission<string>({ maxPending: 10, maxPerSource: 2 });
    assert.deepEqual(a.admit("c1", "2001:db8:1:2::1"), { admit: true });
    assert.deepEqual(a.admit("c2", "2001:db8:1:2::2"), { admit: true });
    assert.deepEqual(a.admit("c3", "::ffff:10.0.0.1"), { admit: true });
    assert.equal(a.countFrom("2001:db8:1:2::/64"), 2);
    assert.equal(a.countFrom("10.0.0.1"), 1);
    a.release("c1");
    a.release("c1");
    assert.equal(a.countFrom("2001:db8:1:2::/64"), 1);
    assert.equal(a.size, 2);
    a.release("c2");
    a.release("c3");
    assert.equal(a.size, 0);
    assert.equal(a.countFrom("2001:db8:1:2::/64"), 0);
  });

  it("a sequence: fill from one source, others displace its connections, idle ones first", () => {
    const a = new HandshakeAdmission<string>({ maxPending: 4, maxPerSource: 1 });
    for (const c of ["m1", "m2", "m3", "m4"]) assert.deepEqual(a.admit(c, "192.0.2.66"), { admit: true });
    a.firstMessage("m1"); // m1 sent HELLO: still over-share, but no longer idle
    assert.deepEqual(a.admit("m5", "192.0.2.66"), { admit: false, reason: "source-limit" });
    assert.deepEqual(a.admit("x1", "192.0.2.1"), { admit: true, shed: "m2" }, "oldest idle over-share, not m1");
    assert.deepEqual(a.admit("x2", "192.0.2.2"), { admit: true, shed: "m3" });
    assert.deepEqual(a.admit("x3", "192.0.2.3"), { admit: true, shed: "m4" });
    // 192.0.2.66 now holds only m1 (its share): nothing is over-share any more; x3 is the only idle one left
    a.firstMessage("x1");
    a.firstMessage("x2");
    assert.deepEqual(a.admit("x4", "192.0.2.4"), { admit: true, shed: "x3" });
    a.firstMessage("x4");
    assert.deepEqual(a.admit("x5", "192.0.2.5"), { admit: false, reason: "full" }, "everyone is past the first message, at their share");
    assert.equal(a.refused, 2);
    assert.equal(a.shed, 4);
    assert.equal(a.size, 4);
  });

  it("limits are validated", () => {
    for (const bad of [{ maxPending: 0 }, { maxPerSource: 0 }, { maxPending: 1.5 }, { maxPerSource: Number.NaN }, { maxPending: -1 }]) {
      assert.throws(() => new HandshakeAdmission(bad), InvalidArgumentError, JSON.stringify(bad));
    }
  });
});

// ---- a real node over loopback; 127.0.0.2, 127.0.0.3 … are distinct sources ----

const sockets = new Set<net.Socket>();
afterEach(() => {
  for (const s of sockets) s.destroy();
  sockets.clear();
});

/** A connected socket from `localAddress` that reports when the node closes it. */
function dial(port: number, localAddress: string): Promise<net.Socket & { closedByPeer: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port, localAddress }) as net.Socket & { closedByPeer: Promise<void> };
    sockets.add(s);
    s.closedByPeer = new Promise((r) => s.once("close", () => r()));
    s.on("error", () => {});
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

const rawKey = () => generateKeyPairSync("x25519").publicKey.export({ format: "der", type: "spki" }).subarray(12);
/** A valid HELLO (length-prefixed): the node answers with REPLY and waits for FINISH. */
const hello = () => Buffer.concat([Buffer.from([0, 34, 1, 1]), rawKey()]);

/** A real initiator from `localAddress`: handshakes with the node and exchanges one message. */
async function realPeer(node: { port: number; id: string }, localAddress: string): Promise<string> {
  const s = await dial(node.port, localAddress);
  const session = await handshake(s, { identity: Identity.generate(), role: "initiator", params: { maxMessageSize: 1 << 20 }, expectedRemoteId: node.id, timeout: 5000 });
  const pipe = new Pipe({ stream: s, session, role: "initiator", strategy: "direct", inbound: false });
  await pipe.send("hi");
  const reply = (await pipe.recv({ timeout: 5000 })).text;
  pipe.destroy();
  return reply;
}

const closedIndexes = (ps: net.Socket[]) => ps.map((s, i) => (s.destroyed ? i : -1)).filter((i) => i >= 0);

const count = (ps: Array<{ closedByPeer: Promise<void> }>) => {
  const n = { closed: 0 };
  for (const p of ps) void p.closedByPeer.then(() => n.closed++);
  return n;
};

describe("node: inbound handshake admission over loopback", () => {
  // Deadlines far away: these tests are about slots, not time.
  const opts = { maxPendingHandshakes: 32, maxPendingHandshakesPerSource: 4, handshakeTimeout: 60_000, handshakeFirstMessageTimeout: 60_000 };

  it("40 idle sockets from 127.0.0.1 (more than the whole table): a real peer from 127.0.0.2 still connects", async () => {
    const node = await loopbackNode(opts);
    node.onMessage((m, p) => p.send("echo:" + m.text));
    const idle = [];
    for (let i = 0; i < 40; i++) idle.push(await dial(node.port, "127.0.0.1"));
    const n = count(idle);
    await waitFor(() => n.closed === 8, 5000, "the 8 connections over the table refused"); // so all 40 were seen
    assert.equal(await realPeer(node, "127.0.0.2"), "echo:hi");
    await idle[0].closedByPeer; // the oldest idle socket of the over-share source made room
    assert.deepEqual(closedIndexes(idle), [0, 32, 33, 34, 35, 36, 37, 38, 39]);
  });

  it("32 handshakes stalled after HELLO from one source: a peer from another source still connects", async () => {
    const node = await loopbackNode(opts);
    node.onMessage((m, p) => p.send("echo:" + m.text));
    const stalled = [];
    let replies = 0;
    for (let i = 0; i < 40; i++) {
      const s = await dial(node.port, "127.0.0.1");
      s.once("data", () => replies++); // REPLY: the node did its half and waits for FINISH
      s.write(hello());
      stalled.push(s);
    }
    const n = count(stalled);
    await waitFor(() => n.closed === 8 && replies === 32, 5000, "32 in the table past their first message, 8 refused");
    assert.equal(await realPeer(node, "127.0.0.2"), "echo:hi");
    await stalled[0].closedByPeer; // the oldest handshake of the over-share source made room
    assert.deepEqual(closedIndexes(stalled), [0, 32, 33, 34, 35, 36, 37, 38, 39]);
  });

  it("a full table of idle sockets from sources each at their share: the oldest idle one makes room", async () => {
    const node = await loopbackNode(opts);
    node.onMessage((m, p) => p.send("echo:" + m.text));
    const idle = [];
    for (let src = 2; src < 10; src++) for (let i = 0; i < 4; i++) idle.push(await dial(node.port, `127.0.0.${src}`));
    // Every slot is taken by a source at its share (4 × 8 = 32): nobody is over-share.
    const probe = await dial(node.port, "127.0.0.2"); // its source is at its share: refused, nobody displaced
    await probe.closedByPeer;
    assert.deepEqual(closedIndexes(idle), []);
    assert.equal(await realPeer(node, "127.0.0.10"), "echo:hi");
    await idle[0].closedByPeer; // the oldest idle one
    assert.deepEqual(closedIndexes(idle), [0]);
  });

  it("an idle socket is dropped at the first-message deadline, long before the handshake timeout; one that sent HELLO is not", async () => {
    const node = await loopbackNode({ handshakeTimeout: 60_000, handshakeFirstMessageTimeout: 100 });
    const quiet = await dial(node.port, "127.0.0.1");
    const talker = await dial(node.port, "127.0.0.1");
    const replied = new Promise((r) => talker.once("data", r));
    talker.write(hello());
    await replied;
    const closed = await Promise.race([quiet.closedByPeer.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000).unref())]);
    assert.equal(closed, true, "the silent connection was closed by the first-message deadline");
    assert.equal(talker.destroyed, false, "the connection that sent HELLO keeps its handshake");
  });

  it("admission options are validated", async () => {
    for (const bad of [{ maxPendingHandshakesPerSource: 0 }, { maxPendingHandshakes: 0.5 }, { handshakeFirstMessageTimeout: 0 }, { handshakeFirstMessageTimeout: Number.NaN }]) {
      await assert.rejects(loopbackNode(bad), InvalidArgumentError, JSON.stringify(bad));
    }
  });
});
