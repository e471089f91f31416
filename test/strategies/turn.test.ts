/**
 * The TURN strategy on loopback through a real coturn: a TCP allocation
 * (RFC 6062) and a UDP allocation carrying the reliable-UDP stream; the
 * handshake and the Pipe end to end; the responder's relay rule.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { ConnectError, TurnError } from "../../src/errors.ts";
import type { Pipe } from "../../src/pipe/pipe.ts";
import { startBroker } from "../../src/signaling/broker.ts";
import { defaultStrategies } from "../../src/strategies/index.ts";
import type { Strategy } from "../../src/strategies/strategy.ts";
import { TurnStrategy } from "../../src/strategies/turn.ts";
import { startCoturn, type LoopbackCoturn } from "../support/coturn.ts";
import { loopbackNode } from "../support/nodes.ts";

let broker: Awaited<ReturnType<typeof startBroker>>;
let coturn: LoopbackCoturn;
before(async () => {
  [broker, coturn] = await Promise.all([startBroker({ host: "127.0.0.1", port: 0 }), startCoturn()]);
});
after(async () => {
  await broker.close();
});

function nodes(urls: string, relay: "tcp" | "udp", listRelay = true, credential = coturn.password) {
  const server = { urls, username: coturn.username, credential };
  // The node's own options: servers in the WebRTC shape, the relay listed in its address by itself.
  const a = listRelay
    ? loopbackNode({ signaling: [broker.url], allowPrivate: true, turn: [server], turnOptions: { relay } })
    : loopbackNode({ signaling: [broker.url], allowPrivate: true, strategies: [...defaultStrategies().filter((s) => s.name !== "turn"), unlisted(new TurnStrategy({ servers: [server], relay, allowPrivate: true }))] });
  const b = loopbackNode({ signaling: [broker.url], allowPrivate: true });
  return Promise.all([a, b]);
}

/** The same strategy without `relays`: its node's address does not list the relay it will use. */
function unlisted(t: TurnStrategy): Strategy {
  return { name: t.name, responders: t.responders, applies: (l, r) => t.applies(l, r), dial: (c, o) => t.dial(c, o) };
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

for (const [relay, urls] of [["tcp", () => `turn:127.0.0.1:${coturn.port}?transport=tcp`], ["udp", () => `turn:127.0.0.1:${coturn.port}`]] as const) {
  describe(`turn over a ${relay.toUpperCase()} allocation on coturn`, () => {
    test("connects with strategy turn on both sides; 1 MiB arrives intact and the echo comes back", async () => {
      const [a, b] = await nodes(urls(), relay);
      b.onMessage((m, p) => p.send(m.isText ? m.text : sha(m.data)));
      const inbound = new Promise<Pipe>((r) => b.once("pipe", r));
      const progress: string[] = [];
      const pipe = await a.connect(b.addr, { strategies: ["turn"], timeout: 15_000, onProgress: (e) => progress.push(e) });
      assert.equal(pipe.strategy, "turn");
      assert.equal(pipe.remoteId, b.id);
      assert.equal((await inbound).strategy, "turn");
      assert.ok(progress.includes("turn-allocated") && progress.includes("turn-connected"), progress.join(","));
      await pipe.send("hello");
      assert.equal((await pipe.recv({ timeout: 5000 })).text, "hello");
      const big = randomBytes(1 << 20);
      await pipe.send(big);
      assert.equal((await pipe.recv({ timeout: 20_000 })).text, sha(big));
      await pipe.close();
      // Both ends close cleanly: no FIN before the peer's CLOSE (coturn's TCP relay cuts both legs
      // on the first FIN), and close() waits until the last frames are through.
      assert.equal(await pipe.closed, undefined);
      assert.equal(await (await inbound).closed, undefined);
    });
  });
}

test("the asked peer refuses a relayed address the requester's signed address does not list", async () => {
  const [a, b] = await nodes(`turn:127.0.0.1:${coturn.port}?transport=tcp`, "tcp", false);
  const err = await a.connect(b.addr, { strategies: ["turn"], timeout: 15_000 }).then(() => undefined, (e) => e);
  assert.ok(err instanceof ConnectError, String(err));
  assert.match(String(err.errors[0]?.message), /not one of the requester's relays|could not reach/);
});

test("wrong TURN credentials: connect fails with the relay's TurnError (wrong-credentials), naming the server and not the secret", async () => {
  const [a, b] = await nodes(`turn:127.0.0.1:${coturn.port}`, "udp", true, "not-the-password");
  const err = await a.connect(b.addr, { strategies: ["turn"], timeout: 15_000 }).then(() => undefined, (e) => e);
  assert.ok(err instanceof ConnectError, String(err));
  const cause = err.errors[0];
  assert.ok(cause instanceof TurnError, String(cause));
  assert.equal(cause.reason, "wrong-credentials");
  assert.match(cause.message, new RegExp(`turn:127\\.0\\.0\\.1:${coturn.port}`));
  assert.doesNotMatch(String(err.message) + cause.message, /not-the-password/);
});
