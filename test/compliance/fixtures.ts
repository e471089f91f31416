/**
 * Loopback fixtures of the strategy compliance suite: real nodes on 127.0.0.1,
 * an embedded MQTT broker for signaling and an embedded TCP STUN server for
 * punch mappings. What loopback cannot show is said in `none` reasons (the
 * lab runs those through real NATs).
 */
import assert from "node:assert/strict";
import net from "node:net";
import { encodeAddress, type NodeAddress } from "../../src/identity/address.ts";
import { ConnectError, DialError, PeerIdentityError, PunchError, TimeoutError } from "../../src/errors.ts";
import { Identity } from "../../src/identity/identity.ts";
import type { Node } from "../../src/node.ts";
import { handshake } from "../../src/session/handshake.ts";
import { startBroker } from "../../src/signaling/broker.ts";
import { Signaling } from "../../src/signaling/signaling.ts";
import { DirectStrategy } from "../../src/strategies/direct.ts";
import { PunchStrategy } from "../../src/strategies/punch.ts";
import { ReverseStrategy } from "../../src/strategies/reverse.ts";
import { StunServer } from "../../src/stun/server.ts";
import { loopbackNode } from "../support/nodes.ts";
import { Probe, until } from "./probe.ts";
import { echoPeer, type ComplianceFixture, type ComplianceSpec } from "./strategy.ts";

/** `who`'s address text with `a`'s interfaces, brokers… and every listening port changed to `port` when given. */
export function resign(who: Identity, a: NodeAddress, o: { seq?: number; port?: number } = {}): string {
  const interfaces = o.port === undefined ? a.interfaces : a.interfaces.map((i) => ({ ...i, port: o.port as number, mappedPort: undefined }));
  return encodeAddress(who, { ...a, seq: o.seq ?? a.seq + 1, interfaces });
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as net.AddressInfo).port;
}

const closeServer = (s: net.Server) => new Promise<void>((r) => s.close(() => r()));

/** Direct: TCP to the peer's listed endpoints, then the handshake. */
export function directSpec(): ComplianceSpec {
  let silent: net.Server;
  let accepted = 0;
  const held = new Set<net.Socket>();
  return {
    name: "direct",
    async setup(): Promise<ComplianceFixture> {
      // Accepts TCP and reads, never answers: the dial hangs in the handshake.
      silent = net.createServer((s) => (accepted++, held.add(s), s.on("close", () => held.delete(s)), s.resume()));
      const silentPort = await listen(silent);
      const probe = new Probe(new DirectStrategy());
      const client = await loopbackNode({ strategies: [probe] });
      const peer = await loopbackNode();
      const gone = await loopbackNode();
      const goneAddr = gone.addr;
      await gone.close();
      return {
        client,
        probe,
        peer: echoPeer(peer),
        silent: resign(peer.identity, peer.address, { port: silentPort }),
        inFlight: () => accepted > 0,
        deadline: { error: DialError, reason: new RegExp(`no answer from 127\\.0\\.0\\.1:${silentPort} within 4000 ms`) },
        unreachable: { address: goneAddr, error: DialError, reason: /ECONNREFUSED/ },
        impostor: {
          // The peer's endpoints under another key: the peer's server answers, its key is not the address's.
          run: () => assert.rejects(client.connect(resign(Identity.generate(), peer.address), { strategies: ["direct"], timeout: 10_000 }), PeerIdentityError),
        },
        proxied: { address: (port) => resign(peer.identity, peer.address, { port }), target: peer.port },
      };
    },
    async teardown(f) {
      for (const s of held) s.destroy();
      await closeServer(silent);
      await f.client.close(); // the peers close after the file (loopbackNode)
    },
  };
}

/** Reverse: ask the peer over signaling to dial our own signed endpoints. */
export function reverseSpec(): ComplianceSpec {
  let broker: Awaited<ReturnType<typeof startBroker>>;
  const stops: Array<() => Promise<void>> = [];
  return {
    name: "reverse",
    async setup(): Promise<ComplianceFixture> {
      broker = await startBroker({ host: "127.0.0.1", port: 0 });
      const signaling = [broker.url];
      const probe = new Probe(new ReverseStrategy());
      const client = await loopbackNode({ signaling, allowPrivate: true, strategies: [probe] });
      const peer = await loopbackNode({ signaling, allowPrivate: true });
      const guarded = await loopbackNode({ signaling }); // dials no private endpoint for anyone
      const turncoat = await reverseTurncoat(signaling, client);
      stops.push(() => turncoat.close());
      return {
        client,
        probe,
        peer: echoPeer(peer),
        // A node nobody runs: the request is never answered.
        silent: resign(Identity.generate(), peer.address),
        inFlight: (calls) => calls > 0,
        deadline: { error: TimeoutError, reason: /reverse: the peer did not connect back within 4000 ms/ },
        unreachable: { address: guarded.addr, error: DialError, reason: /reverse: the peer could not connect to us/ },
        impostor: { run: () => turncoat.run(resign(turncoat.identity, peer.address)) },
        inbound: true,
        proxied: { none: "the peer dials our own signed endpoints; a proxy would have to stand in our address" },
      };
    },
    async teardown(f) {
      for (const stop of stops.splice(0)) await stop();
      await f.client.close();
      await broker.close();
    },
  };
}

/** Punch: fresh TCP mappings, a start agreed over signaling, simultaneous open. */
export function punchSpec(): ComplianceSpec {
  let broker: Awaited<ReturnType<typeof startBroker>>;
  let stun: StunServer;
  return {
    name: "punch",
    async setup(): Promise<ComplianceFixture> {
      broker = await startBroker({ host: "127.0.0.1", port: 0 });
      stun = await StunServer.listen({ host: "127.0.0.1", port: 0, udp: false });
      const { address, port } = stun.addresses.primary;
      const opts = { signaling: [broker.url], stun: [`stun:${address}:${port}`], allowPrivate: true, discoveryWait: 0 };
      const probe = new Probe(new PunchStrategy());
      const client = await loopbackNode({ ...opts, strategies: [probe] });
      const peer = await loopbackNode(opts);
      return {
        client,
        probe,
        peer: { none: "a punch cannot open on loopback (each SYN meets no socket yet and is refused: test/strategies/punch/session.test.ts); test/lab/punch.test.ts connects through NATs" },
        silent: resign(Identity.generate(), peer.address),
        inFlight: (calls) => calls > 0,
        deadline: { error: PunchError, reason: /no connection within its deadline of 4000 ms/ },
        // The whole exchange runs (pings, request, reply, SYNs at the agreed start); every SYN is refused.
        unreachable: { address: peer.addr, error: PunchError, reason: /no connection opened by simultaneous open: .*ECONNREFUSED/ },
        impostor: {
          // The peer's endpoints and brokers under another key: signaling is sealed to that key, so nobody
          // answers the pings and no SYN is ever sent. (A key swapped on a punched connection itself fails
          // in ctx.secure, as for direct; loopback cannot punch one open.)
          run: () =>
            assert.rejects(client.connect(resign(Identity.generate(), peer.address), { strategies: ["punch"], timeout: 10_000 }), (e: Error) => {
              assert.ok(e instanceof ConnectError && e.errors[0] instanceof PunchError, `${e.name}: ${e.message}`);
              assert.match(e.errors[0].message, /the peer did not answer any ping/);
              return true;
            }),
        },
        proxied: { none: "no punched connection on loopback to look at" },
      };
    },
    async teardown(f) {
      await f.client.close();
      await stun.close();
      await broker.close();
    },
  };
}

/**
 * Reverse's impostor: holds the key an address names on signaling (so the
 * request reaches it) but proves another key when it connects back with the
 * request's token. `run` connects to it: the client's listener drops that
 * connection and the reverse wait fails at once with PeerIdentityError (only
 * the asked peer can know the token: src/server/inbound-waiters.ts).
 */
export async function reverseTurncoat(brokers: string[], client: Node): Promise<{ identity: Identity; run(address: string): Promise<void>; close(): Promise<void> }> {
  const claimed = Identity.generate();
  const other = Identity.generate();
  const outcome: string[] = [];
  const sig = new Signaling({ identity: claimed, brokers, allowPrivateBrokers: true });
  sig.on(
    "reverse-connect",
    async (body) => {
      const { token } = body as { token: string };
      const socket = net.connect({ host: "127.0.0.1", port: client.port });
      socket.on("error", () => {});
      await new Promise((r) => socket.once("connect", r));
      await handshake(socket, { identity: other, role: "initiator", params: { maxMessageSize: 1 << 20, strategy: "reverse", token }, timeout: 5000 });
      await new Promise((r) => socket.once("close", r));
      outcome.push("dropped");
      return { connected: true };
    },
    { dialsOut: true },
  );
  await sig.start();
  return {
    identity: claimed,
    async run(address) {
      await assert.rejects(client.connect(address, { strategies: ["reverse"], timeout: 10_000 }), (err: Error) => {
        assert.ok(err instanceof PeerIdentityError, `${err.name}: ${err.message}`);
        assert.match(err.message, /connected back as .*, not as /);
        return true;
      });
      await until(() => outcome.length > 0, "the turncoat's connection to be dropped");
    },
    close: () => sig.close(),
  };
}
