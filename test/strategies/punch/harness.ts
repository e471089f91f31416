/**
 * Test helpers for the punch responder on loopback: a requester identity with a
 * signed address, a responder context whose dial policy allows 127.0.0.1 (as
 * `allowPrivate` would: the attack needs only an IP the requester lists, and it
 * writes its own address), a TCP STUN server for the responder's fresh mapping,
 * and closed loopback ports to aim at.
 */
import net from "node:net";
import { encodeAddress, parseAddress, type AddressInterface, type NatSummary, type NodeAddress } from "../../../src/identity/address.ts";
import { Identity } from "../../../src/identity/identity.ts";
import { silentLogger, type Logger } from "../../../src/util/logger.ts";
import type { Endpoint } from "../../../src/strategies/punch/candidates.ts";
import type { ResponderContext } from "../../../src/strategies/strategy.ts";
import { StunServer } from "../../../src/stun/server.ts";

export const FULL_CONE: NatSummary = { type: "full-cone", mapping: "endpoint-independent", filtering: "endpoint-independent", delta: { kind: "preserving", step: 0 } };

/** A signed address listing `ips` as public IPv4 endpoints (what a requester writes about itself). */
export function signedAddress(identity: Identity, ips: string[]): NodeAddress {
  const itf: AddressInterface = { name: "eth0", isDefault: true, port: 40000, v4: { private: [], public: ips }, v6: [], nat: { tcp: FULL_CONE, udp: FULL_CONE } };
  const text = encodeAddress(identity, { seq: 1, expires: Math.floor(Date.now() / 1000) + 3600, interfaces: [itf], signaling: ["mqtt://127.0.0.1:1"], relays: [] });
  return parseAddress(text);
}

/** Distinct loopback ports nobody listens on (bound, then released). */
export async function closedPorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, async () => {
      const s = net.createServer();
      await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
      return s;
    }),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

export interface Harness {
  stun: StunServer;
  responder: Identity;
  /** A context for one request; `tasks` collects what the handler hands to background(). */
  context(opts?: { logger?: Logger }): { ctx: ResponderContext; tasks: Promise<unknown>[] };
  close(): Promise<void>;
}

export async function responderHarness(): Promise<Harness> {
  const stun = await StunServer.listen({ host: "127.0.0.1", port: 0, udp: false });
  const responder = Identity.generate();
  const local = signedAddress(responder, ["198.51.100.7"]);
  const { address, port } = stun.addresses.primary;
  return {
    stun,
    responder,
    context(opts = {}) {
      const tasks: Promise<unknown>[] = [];
      const ctx: ResponderContext = {
        identity: responder,
        local,
        stun: [`stun:${address}:${port}`],
        logger: opts.logger ?? silentLogger,
        secure: () => Promise.reject(new Error("no handshake in these tests")),
        adopt: () => {},
        // allowPrivate, as in tests and on one LAN: the requester's own listed IPs only.
        mayDial: (requester, host) => requester.interfaces.some((i) => i.v4.public.includes(host)),
        background: (task) => {
          task.catch(() => {});
          tasks.push(task);
        },
      };
      return { ctx, tasks };
    },
    close: () => stun.close(),
  };
}

/** A punch request body from `requester`, aiming its offer at `endpoints`. */
export function punchRequest(requester: NodeAddress, endpoints: Endpoint[], o: { windowMs: number; startAt: number; rttMs?: number; token?: string }): Record<string, unknown> {
  return {
    address: requester.text,
    token: o.token ?? "AAAAAAAAAAAAAAAAAAAAAA",
    offer: { mapped: endpoints.slice(0, 8), predicted: endpoints.slice(8, 24), lan: [] },
    startAt: o.startAt,
    rttMs: o.rttMs ?? 0,
    windowMs: o.windowMs,
  };
}
