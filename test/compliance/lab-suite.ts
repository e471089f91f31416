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
 * direct (this process in a1, behind its NAT): to a public peer in pub1; to
 * the peer behind site b's NAT it fails, typed, once its attempt runs out
 * (the NAT drops the SYN); the impostor is the public peer's endpoints
 * under another key.
 * turn (this process in a1): through the lab's coturn on srv (a TCP
 * allocation, RFC 6062) to the peer behind site b's NAT; the impostor (in
 * this host, so its address lists our NAT's IP for the relay to let in)
 * holds the address's key on signaling, dials our relayed address and
 * proves another key.
 */
import assert from "node:assert/strict";
import { parseAddress } from "../../src/identity/address.ts";
import { DialError, PeerIdentityError, PunchError, TimeoutError } from "../../src/errors.ts";
import { Identity } from "../../src/identity/identity.ts";
import { startNode, type Node } from "../../src/node.ts";
import { handshake } from "../../src/session/handshake.ts";
import { Signaling } from "../../src/signaling/signaling.ts";
import { DirectStrategy } from "../../src/strategies/direct.ts";
import { PUNCH, PunchStrategy } from "../../src/strategies/punch.ts";
import { ReverseStrategy } from "../../src/strategies/reverse.ts";
import { TurnStrategy } from "../../src/strategies/turn.ts";
import type { DialResult, ResponderContext } from "../../src/strategies/strategy.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { resign, reverseTurncoat } from "./fixtures.ts";
import { Probe } from "./probe.ts";
import { strategyCompliance, type ComplianceFixture, type ComplianceSubject } from "./strategy.ts";
import { turnTurncoat } from "./turn-fixture.ts";

interface LabEnv {
  strategy: "punch" | "reverse" | "direct" | "turn";
  /** The peer behind site b's NAT. */
  peer: string;
  /** A peer on a public host (direct). */
  publicPeer?: string;
  broker: string;
  stun: string;
  /** The lab's coturn (turn): a TCP-transport URI; the credentials come in P2PNODE_TURN_USER / P2PNODE_TURN_PASS. */
  turn?: string;
}
const env = JSON.parse(process.env.P2PNODE_COMPLIANCE ?? "{}") as LabEnv;
assert.ok(env.peer, "P2PNODE_COMPLIANCE must name the peer (run test/compliance/lab.test.ts)");
const peer = parseAddress(env.peer);
const stops: Array<() => Promise<void>> = [];
/** The peer behind site b's NAT (an echo node in b1: test/lab/punch-node.ts listen). */
const natPeer: ComplianceSubject = { addr: env.peer, id: peer.id, reply: (text) => text };

/** The dialling node. `allowPrivate`: the punch turncoat shares our NAT and is reached on the LAN. */
async function client(probe: Probe, allowPrivate = false): Promise<Node> {
  const node = await startNode({ stun: [env.stun], signaling: [env.broker], discoveryTimeout: 4000, discoveryWait: 4000, portMapping: false, allowPrivate, strategies: [probe] });
  await node.natReady();
  return node;
}

/**
 * What the fixtures that reach the NATed peer over signaling share: its
 * address signed by a key nobody holds is `silent` (the request is never
 * answered), and a dial is under way once the strategy used signaling.
 */
function towardNatPeer(node: Node, probe: Probe): Pick<ComplianceFixture, "client" | "probe" | "peer" | "silent" | "inFlight"> {
  return { client: node, probe, peer: natPeer, silent: resign(Identity.generate(), peer), inFlight: (calls) => calls > 0 };
}

async function directFixture(): Promise<ComplianceFixture> {
  assert.ok(env.publicPeer, "direct needs the public peer");
  const probe = new Probe(new DirectStrategy());
  // Direct needs no signaling or NAT report: the dialler's address only decides which endpoints to try.
  const node = await startNode({ portMapping: false, strategies: [probe] });
  const pub = parseAddress(env.publicPeer);
  const natIp = peer.interfaces.flatMap((i) => i.v4.public)[0];
  assert.ok(natIp, "the NATed peer's address lists its public (NAT) IP");
  const ip = natIp.replaceAll(".", "\\.");
  return {
    client: node,
    probe,
    peer: { addr: env.publicPeer, id: pub.id, reply: (text) => text },
    // The NATed peer's endpoints under another key: its NAT drops the SYN, nothing comes back.
    silent: resign(Identity.generate(), peer),
    inFlight: (_signaling, progress) => progress > 0,
    deadline: { error: DialError, reason: new RegExp(`no answer from ${ip}:\\d+ within 4000 ms`) },
    // The attempt's own budget (5 s) runs out well inside connect()'s, so the failure is the strategy's.
    unreachable: { address: env.peer, error: DialError, reason: new RegExp(`could not reach the peer at any of its \\d+ endpoint\\(s\\): ${ip}:\\d+ .*within 5000 ms`) },
    impostor: { run: () => assert.rejects(node.connect(resign(Identity.generate(), pub), { strategies: ["direct"], timeout: 10_000 }), PeerIdentityError) },
    proxied: { none: "covered on loopback; here the peer's host captures every frame (test/compliance/lab.test.ts)" },
  };
}

async function turnFixture(): Promise<ComplianceFixture> {
  assert.ok(env.turn, "turn needs the lab's coturn");
  const probe = new Probe(new TurnStrategy({ servers: [{ urls: env.turn, username: process.env.P2PNODE_TURN_USER ?? "", credential: process.env.P2PNODE_TURN_PASS ?? "" }], relay: "tcp" }));
  const node = await client(probe);
  const turncoat = await turnTurncoat([env.broker], false);
  // The turncoat runs in this host: its address lists our public (NAT) IP, which the relay then lets in.
  const turncoatAddress = resign(turncoat.claimed, node.address);
  stops.push(() => turncoat.close());
  return {
    ...towardNatPeer(node, probe),
    deadline: { error: TimeoutError, reason: /turn: the peer did not reach our relay within 4000 ms/ },
    unreachable: { none: "covered on loopback (a peer that answers no turn-connect); every peer here answers" },
    impostor: { run: () => assert.rejects(node.connect(turncoatAddress, { strategies: ["turn"], timeout: 10_000 }), PeerIdentityError) },
    proxied: { none: "the relay is the middle: the peer's host captures every frame (test/compliance/lab.test.ts)" },
  };
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
    peer: natPeer,
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
    ...towardNatPeer(node, probe),
    deadline: { error: TimeoutError, reason: /reverse: the peer did not connect back within 4000 ms/ },
    unreachable: { none: "on loopback: a peer that may not dial our endpoints answers DialError; here every peer may" },
    inbound: true,
    impostor: { run: () => turncoat.run(resign(turncoat.identity, peer)) },
    proxied: { none: "covered on loopback (direct); the peer dials our own signed endpoints" },
  };
}

strategyCompliance({
  name: env.strategy,
  setup: () => ({ punch: punchFixture, reverse: reverseFixture, direct: directFixture, turn: turnFixture })[env.strategy](),
  async teardown(f) {
    for (const stop of stops.splice(0)) await stop();
    await f.client.close();
  },
});
