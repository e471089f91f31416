/** Node options resolved once (src/options.ts), and pluggable strategies (startNode({ strategies })). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidArgumentError } from "../src/errors.ts";
import { NODE_DEFAULTS, resolveNodeOptions, type NodeOptions } from "../src/options.ts";
import { defaultStrategies } from "../src/strategies/index.ts";
import type { DialContext, Strategy } from "../src/strategies/strategy.ts";
import { systemClock, systemTimers } from "../src/util/clock.ts";
import { loopbackNode } from "./support/nodes.ts";

test("defaults fill what is missing or undefined; the caller's object is left as it was", () => {
  const given: NodeOptions = { port: undefined, stun: ["stun:127.0.0.1:3478"], host: "127.0.0.1" };
  const copy = structuredClone(given);
  const o = resolveNodeOptions(given);
  assert.equal(o.port, NODE_DEFAULTS.port);
  assert.equal(o.connectTimeout, 20_000);
  assert.equal(o.handshakeTimeout, 10_000);
  assert.deepEqual(o.hosts, ["127.0.0.1"]);
  assert.deepEqual([o.signaling, o.turn], [[], []]);
  assert.equal(o.clock, systemClock);
  assert.equal(o.timers, systemTimers);
  assert.notEqual(o.stun, given.stun, "a copy, not the caller's array");
  assert.deepEqual(given, copy);
  assert.ok(Object.isFrozen(NODE_DEFAULTS));
});

test("a bad option is an InvalidArgumentError that names it", () => {
  const bad: Array<[NodeOptions, RegExp]> = [
    [{ port: 70000 }, /^port/],
    [{ port: 1.5 }, /^port/],
    [{ host: [] }, /^host/],
    [{ handshakeFirstMessageTimeout: 0 }, /^handshakeFirstMessageTimeout/],
    [{ connectTimeout: -1 }, /^connectTimeout/],
    [{ strategies: [] }, /^strategies/],
    [{ strategies: [{ name: "direct" } as unknown as Strategy] }, /^strategies/],
    [{ strategies: [...defaultStrategies(), defaultStrategies()[0]] }, /"direct" is listed twice/],
    [{ turn: ["turn:127.0.0.1:3478"] as never }, /^turn takes servers in the WebRTC shape/],
    [{ turn: [{ urls: "turn:127.0.0.1", username: "u" }] as never }, /^turn\[0\]\.credential/],
    [{ turn: [{ urls: "stun:127.0.0.1", username: "u", credential: "p" }] }, /not a turn: or turns: URI/],
    [{ turn: [{ urls: "turn:127.0.0.1", username: "u", credential: "p" }], strategies: defaultStrategies() }, /with your own strategies list, add new TurnStrategy/],
  ];
  for (const [opts, re] of bad) {
    assert.throws(() => resolveNodeOptions(opts), (e: Error) => e instanceof InvalidArgumentError && re.test(e.message), JSON.stringify(Object.keys(opts)));
  }
});

test("defaultStrategies(): fresh direct, reverse, punch, turn instances on every call", () => {
  const a = defaultStrategies();
  const b = defaultStrategies();
  assert.deepEqual(a.map((s) => s.name), ["direct", "reverse", "punch", "turn"]);
  assert.notEqual(a[0], b[0]);
  assert.deepEqual(a.flatMap((s) => s.relays ?? []), [], "no servers: nothing to list, the turn strategy only answers");
});

test("startNode({ turn }): the default turn strategy gets the servers; the address lists their URLs, never the credentials", async () => {
  const secret = "a-credential-that-must-not-leak";
  const turn = [{ urls: ["turn:127.0.0.1:3478?transport=tcp", "turn:127.0.0.1:3478"], username: "alice", credential: secret }];
  const node = await loopbackNode({ turn, turnOptions: { relay: "udp" } });
  try {
    assert.deepEqual(node.address.relays, ["turn:127.0.0.1:3478?transport=tcp", "turn:127.0.0.1:3478"]);
    assert.doesNotMatch(node.addr + JSON.stringify(node.address), new RegExp(`${secret}|alice`));
  } finally {
    await node.close();
  }
});

test("startNode({ strategies }): connect() dials with the strategies given, and only those", async () => {
  const [direct] = defaultStrategies();
  const dialled: string[] = [];
  // A strategy of our own, wrapping direct: it sees every dial the node makes.
  const watched: Strategy = {
    name: "direct",
    applies: (l, r) => direct.applies(l, r),
    dial: (ctx: DialContext, o) => {
      dialled.push(ctx.remote.id);
      return direct.dial(ctx, o);
    },
  };
  const server = await loopbackNode();
  const client = await loopbackNode({ strategies: [watched] });
  const pipe = await client.connect(server.addr);
  assert.equal(pipe.strategy, "direct");
  assert.deepEqual(dialled, [server.id]);
  await assert.rejects(client.connect(server.addr, { strategies: ["punch"] }), (e: Error) => e instanceof InvalidArgumentError && /unknown or unavailable strategy "punch"/.test(e.message));
  await pipe.close();
});
