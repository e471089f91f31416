/**
 * The compliance suite inside a NAT lab host (started by test/compliance/lab.test.ts,
 * not by test/run.js: it needs the lab's broker, STUN server and a peer in
 * another site). P2PNODE_COMPLIANCE is JSON: { strategy, peer, broker, stun }.
 *
 * punch (this process in a1 behind site a's NAT, the peer in b1 behind site b's):
 * a real punch through both NATs; the impostor is a punch responder in this
 * host that holds the address's key on signaling and proves another key on
 * the punched connection (same NAT: the LAN path), so the dialler's handshake
 * fails with PeerIdentityError.
 * reverse (this process in pub1, the peer behind a NAT): the peer dials back
 * through its NAT; the impostor connects back under another key.
 */
import assert from "node:assert/strict";
import { parseAddress } from "../../src/identity/address.ts";
import { PeerIdentityError, PunchError, TimeoutError } from "../../src/errors.ts";
import { Identity } from "../../src/identity/identity.ts";
import { startNode, type Node } from "../../src/node.ts";
import { handshake } from "../../src/session/handshake.ts";
import { Signaling } from "../../src/signaling/signaling.ts";
import { PUNCH, PunchStrategy } from "../../src/strategies/punch.ts";
import { ReverseStrategy } from "../../src/strategies/reverse.ts";
import type { DialResult, ResponderContext } from "../../src/strategies/strategy.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { resign, reverseTurncoat } from "./fixtures.ts";
import { Probe } from "./probe.ts";
import { strategyCompliance, type ComplianceFixture } from "./strategy.ts";

const env = JSON.parse(process.env.P2PNODE_COMPLIANCE ?? "{}") as { strategy: "punch" | "reverse"; peer: string; broker: string; stun: string };
assert.ok(env.peer, "P2PNODE_COMPLIANCE must name the peer (run test/compliance/lab.test.ts)");
const peer = parseAddress(env.peer);
const stops: Array<() => Promise<void>> = [];

/** The dialling node. `allowPrivate`: the punch turncoat shares our NAT and is reached on the LAN. */
async function client(probe: Probe, allowPrivate = false): Promise<Node> {
  const node = await startNode({ stun: [env.stun], signaling: [env.broker], discoveryTimeout: 4000, discoveryWait: 4000, portMapping: false, allowPrivate, strategies: [probe] });
  await node.natReady();
  return node;
}

/**
 * Holds `claimed`'s key on signaling and answers punch requests with the real
 * punch responder, but its handshake proves another key.
 */
async function punchTurncoat(node: Node): Promise<{ address: string; adopted: DialResult[] }> {
  const claimed = Identity.generate();
  const other = Identity.generate();
  const address = resign(claimed, node.address);
  const adopted: DialResult[] = [];
  const strategy = new PunchStrategy();
  const sig = new Signaling({ identity: claimed, brokers: [env.broker] });
  const ctx: ResponderContext = {
    identity: claimed,
    local: parseAddress(address),
    stun: [env.stun],
    logger: silentLogger,
    secure: (stream, role, peerId, signal, extra) =>
      handshake(stream, { identity: other, role, params: { maxMessageSize: 1 << 20, ...extra }, expectedRemoteId: peerId, timeout: 5000, signal }),
    adopt: (res) => void adopted.push(res),
    mayDial: () => true,
    background: (task) => void task.catch(() => {}),
  };
  const lifetime = new AbortController();
  sig.on(PUNCH, (body, from) => strategy.responders[PUNCH].handle(body, from, ctx, lifetime.signal), { dialsOut: true });
  await sig.start();
  stops.push(async () => {
    lifetime.abort();
    await sig.close();
  });
  return { address, adopted };
}

async function punchFixture(): Promise<ComplianceFixture> {
  const probe = new Probe(new PunchStrategy());
  const node = await client(probe, true);
  const ghost = resign(Identity.generate(), peer);
  const turncoat = await punchTurncoat(node);
  return {
    client: node,
    probe,
    peer: { addr: env.peer, id: peer.id, reply: (text) => text },
    silent: ghost,
    inFlight: (calls) => calls > 0,
    deadline: { error: PunchError, reason: /no connection within its deadline of 4000 ms/ },
    unreachable: { address: ghost, error: PunchError, reason: /the peer did not answer any ping/ },
    impostor: {
      async run() {
        await assert.rejects(node.connect(turncoat.address, { strategies: ["punch"], timeout: 15_000 }), PeerIdentityError);
        assert.equal(turncoat.adopted.length, 0, "the turncoat's own handshake saw the wrong key too");
      },
    },
    proxied: { none: "a punched connection has no fixed endpoint to put a proxy on" },
  };
}

async function reverseFixture(): Promise<ComplianceFixture> {
  const probe = new Probe(new ReverseStrategy());
  const node = await client(probe);
  const turncoat = await reverseTurncoat([env.broker], node);
  stops.push(() => turncoat.close());
  return {
    client: node,
    probe,
    peer: { addr: env.peer, id: peer.id, reply: (text) => text },
    silent: resign(Identity.generate(), peer),
    inFlight: (calls) => calls > 0,
    deadline: { error: TimeoutError, reason: /reverse: the peer did not connect back within 4000 ms/ },
    unreachable: { none: "on loopback: a peer that may not dial our endpoints answers DialError; here every peer may" },
    impostor: { run: () => turncoat.run(probe, resign(turncoat.identity, peer)) },
    proxied: { none: "covered on loopback (direct); the peer dials our own signed endpoints" },
  };
}

strategyCompliance({
  name: env.strategy,
  setup: () => (env.strategy === "punch" ? punchFixture() : reverseFixture()),
  async teardown(f) {
    for (const stop of stops.splice(0)) await stop();
    await f.client.close();
  },
});
