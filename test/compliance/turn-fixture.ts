/**
 * TURN's loopback fixture for the compliance suite: a real coturn (TCP
 * allocation, RFC 6062), an embedded broker, and a turncoat that holds the
 * key an address names on signaling, dials our relayed address as asked,
 * and proves another key in the handshake (the dialler must say PeerIdentityError).
 */
import assert from "node:assert/strict";
import { DialError, PeerIdentityError, TimeoutError } from "../../src/errors.ts";
import { Identity } from "../../src/identity/identity.ts";
import { handshake } from "../../src/session/handshake.ts";
import { startBroker } from "../../src/signaling/broker.ts";
import { Signaling } from "../../src/signaling/signaling.ts";
import { defaultStrategies } from "../../src/strategies/index.ts";
import { TurnStrategy } from "../../src/strategies/turn.ts";
import { dialRelay } from "../../src/strategies/turn-dial.ts";
import { parseTurnConnect, TURN_CONNECT } from "../../src/strategies/turn-wire.ts";
import { startCoturn } from "../support/coturn.ts";
import { loopbackNode } from "../support/nodes.ts";
import { resign } from "./fixtures.ts";
import { Probe } from "./probe.ts";
import { echoPeer, type ComplianceFixture, type ComplianceSpec } from "./strategy.ts";

export function turnSpec(): ComplianceSpec {
  const stops: Array<() => Promise<void>> = [];
  return {
    name: "turn",
    async setup(): Promise<ComplianceFixture> {
      const [broker, coturn] = await Promise.all([startBroker({ host: "127.0.0.1", port: 0 }), startCoturn()]);
      stops.push(() => broker.close());
      const signaling = [broker.url];
      const urls = `turn:127.0.0.1:${coturn.port}?transport=tcp`;
      const probe = new Probe(new TurnStrategy({ servers: [{ urls, username: coturn.username, credential: coturn.password }], relay: "tcp", allowPrivate: true }));
      const client = await loopbackNode({ signaling, allowPrivate: true, strategies: [probe] });
      const peer = await loopbackNode({ signaling, allowPrivate: true }); // the default turn strategy answers
      const noTurn = await loopbackNode({ signaling, allowPrivate: true, strategies: defaultStrategies().filter((s) => s.name !== "turn") }); // answers no turn-connect

      const turncoat = await turnTurncoat(signaling, true);
      stops.unshift(() => turncoat.close());

      return {
        client,
        probe,
        peer: echoPeer(peer),
        silent: resign(Identity.generate(), peer.address),
        inFlight: (calls) => calls > 0,
        deadline: { error: TimeoutError, reason: /turn: the peer did not reach our relay within 4000 ms/ },
        unreachable: { address: noTurn.addr, error: DialError, reason: /^turn: .*turn-connect/ },
        impostor: {
          run: () => assert.rejects(client.connect(resign(turncoat.claimed, peer.address), { strategies: ["turn"], timeout: 10_000 }), PeerIdentityError),
        },
        proxied: { none: "the relay is the middle: test/lab/turn.test.ts captures on the relay host and finds no plaintext" },
      };
    },
    async teardown(f) {
      await f.client.close();
      for (const stop of stops.splice(0)) await stop();
    },
  };
}

/**
 * TURN's impostor: holds the key `claimed` (which an address names) on
 * signaling, dials the relayed address a turn-connect asks for, and proves
 * another key in the handshake.
 */
export async function turnTurncoat(brokers: string[], allowPrivateBrokers: boolean): Promise<{ claimed: Identity; close(): Promise<void> }> {
  const claimed = Identity.generate();
  const other = Identity.generate();
  const turncoat = new Signaling({ identity: claimed, brokers, allowPrivateBrokers });
  turncoat.on(
    TURN_CONNECT,
    async (body) => {
      const req = parseTurnConnect(body);
      const stream = await dialRelay(req, AbortSignal.timeout(5000));
      stream.on("error", () => {});
      await handshake(stream, { identity: other, role: "initiator", params: { maxMessageSize: 1 << 20, strategy: "turn", token: req.token }, timeout: 5000 }).catch(() => {});
      stream.destroy();
      return { connected: true };
    },
    { dialsOut: true },
  );
  await turncoat.start();
  return { claimed, close: () => turncoat.close() };
}
