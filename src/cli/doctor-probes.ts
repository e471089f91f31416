/**
 * The doctor's checks of configured servers and the gateway (I/O; each one
 * bounded by `timeoutMs` and the caller's signal, none creates anything that
 * outlives it):
 * - port mapping, probe only: PCP ANNOUNCE (RFC 6887 §14.1), NAT-PMP external
 *   address (RFC 6886 §3.2), UPnP SSDP + description + GetExternalIPAddress;
 *   no mapping is created;
 * - a signaling broker: connect + subscribe to a random topic of our own, then
 *   three messages published there and delivered back (the best is the round trip);
 * - a TURN server: a real allocation per URI and relayed transport, released
 *   at once (Refresh lifetime 0).
 */
import { randomBytes } from "node:crypto";
import { PortMappingError, TurnError } from "../errors.ts";
import { localAddressToward } from "../portmap/gateway.ts";
import { PMP_PORT } from "../portmap/nat-pmp-codec.ts";
import { decodePcpResponse, pcpAddressBytes, PCP_VERSION, PcpOp, pcpResultText, PcpResult } from "../portmap/pcp-codec.ts";
import { natPmpExternalAddress } from "../portmap/pmp-client.ts";
import { searchIgd } from "../portmap/ssdp.ts";
import { udpTransaction } from "../portmap/udp-transaction.ts";
import { fetchIgd, upnpExternalIp } from "../portmap/upnp.ts";
import { BrokerLink } from "../signaling/broker-link.ts";
import { TOPIC_PREFIX } from "../signaling/mqtt-transport.ts";
import { formatAddress } from "../stun/ip.ts";
import { TurnClient } from "../turn/client.ts";
import { parseTurnUri, type TurnServer, type TurnUri } from "../turn/uri.ts";
import { withDeadline } from "../util/deadline.ts";
import type { Logger } from "../util/logger.ts";
import type { BrokerFacts, PortMapFacts, PortMapProbe, TurnAllocationFacts } from "./doctor-types.ts";

export interface ProbeOptions {
  timeoutMs: number;
  signal: AbortSignal;
  logger: Logger;
}

const since = (t0: number) => Math.round(performance.now() - t0);
const message = (err: unknown) => (err as Error)?.message ?? String(err);

/** PCP ANNOUNCE request (§7.1 header, opcode 0, lifetime 0): asks nothing of the gateway but an answer. */
function pcpAnnounce(clientIp: string): Uint8Array {
  const out = new Uint8Array(24);
  out[0] = PCP_VERSION;
  out[1] = PcpOp.ANNOUNCE;
  out.set(pcpAddressBytes(clientIp), 8);
  return out;
}

async function probePcp(gateway: string, o: ProbeOptions): Promise<PortMapProbe> {
  const t0 = performance.now();
  const clientIp = (await localAddressToward(gateway, PMP_PORT)) ?? "0.0.0.0";
  const ans = await udpTransaction(gateway, PMP_PORT, pcpAnnounce(clientIp), (buf) => {
    const r = decodePcpResponse(buf);
    return r && (r.natPmpOnly || r.op === PcpOp.ANNOUNCE) ? r : undefined;
  }, { timeoutMs: o.timeoutMs, signal: o.signal });
  if (!ans) return { status: "no", detail: "no answer on UDP 5351", ms: since(t0) };
  if (ans.natPmpOnly || ans.result === PcpResult.UNSUPP_VERSION) return { status: "no", detail: "the gateway answered in NAT-PMP only", ms: since(t0) };
  if (ans.result !== PcpResult.SUCCESS) return { status: "refused", detail: `answered ANNOUNCE with ${pcpResultText(ans.result)}`, ms: since(t0) };
  return { status: "yes", detail: `epoch ${ans.epoch} s`, ms: since(t0) };
}

async function probeNatPmp(gateway: string, o: ProbeOptions): Promise<PortMapProbe> {
  const t0 = performance.now();
  try {
    const ip = await natPmpExternalAddress(gateway, o.timeoutMs, o.signal);
    return ip ? { status: "yes", externalIp: ip, ms: since(t0) } : { status: "no", detail: "no answer on UDP 5351", ms: since(t0) };
  } catch (err) {
    if (err instanceof PortMappingError) return { status: "refused", detail: err.message, ms: since(t0) };
    throw err;
  }
}

async function probeUpnp(gateway: string, o: ProbeOptions): Promise<PortMapProbe> {
  const t0 = performance.now();
  const left = () => Math.max(1, o.timeoutMs - since(t0));
  const localAddress = await localAddressToward(gateway, 1900);
  const found = await searchIgd({ gateway, localAddress, timeoutMs: Math.min(1000, o.timeoutMs), signal: o.signal });
  if (!found) return { status: "no", detail: "no SSDP answer", ms: since(t0) };
  try {
    const dev = await fetchIgd(found.location, left(), o.signal);
    if (!dev) return { status: "no", detail: `${found.location} is not an Internet Gateway Device we can drive`, ms: since(t0) };
    const ip = await upnpExternalIp(dev, left(), o.signal);
    return { status: "yes", igd: dev.igdVersion === 2 ? 2 : 1, externalIp: ip, detail: dev.location, ms: since(t0) };
  } catch (err) {
    if (err instanceof PortMappingError) return { status: "refused", detail: err.message, ms: since(t0) };
    throw err;
  }
}

/** Which port-mapping protocols `gateway` speaks, without creating a mapping. */
export async function probePortMapping(gateway: string | undefined, o: ProbeOptions): Promise<PortMapFacts> {
  const skipped: PortMapProbe = { status: "not-checked" };
  if (!gateway) return { method: "skipped", pcp: skipped, natPmp: skipped, upnp: skipped };
  const guard = (p: Promise<PortMapProbe>) => p.catch((err): PortMapProbe => ({ status: "no", detail: message(err) }));
  const [pcp, natPmp, upnp] = await Promise.all([guard(probePcp(gateway, o)), guard(probeNatPmp(gateway, o)), guard(probeUpnp(gateway, o))]);
  return { gateway, method: "probe", pcp, natPmp, upnp };
}

const ECHOES = 3;

/** Publishes a random payload to our own topic and waits for the broker to deliver it back; resolves the ms it took. */
async function echo(link: BrokerLink, topic: string, o: ProbeOptions): Promise<number> {
  const nonce = randomBytes(16);
  let off = () => {};
  const back = new Promise<void>((resolve) => {
    const on = (payload: Buffer) => payload.equals(nonce) && resolve();
    link.on("message", on);
    off = () => link.off("message", on);
  });
  const t0 = performance.now();
  try {
    await link.publish(topic, nonce, o.timeoutMs, o.signal);
    await back;
    return Math.round((performance.now() - t0) * 10) / 10;
  } finally {
    off();
  }
}

/** One broker: connected (and subscribed), then ECHOES messages to our own random topic and back. */
export async function checkBroker(url: string, o: ProbeOptions): Promise<BrokerFacts> {
  const t0 = performance.now();
  const topic = `${TOPIC_PREFIX}doctor/${randomBytes(12).toString("hex")}`;
  const link = new BrokerLink({ url, topic, persistent: false, logger: o.logger, connectTimeoutMs: o.timeoutMs, keepaliveSec: 30, reconnectInitialMs: 500, reconnectMaxMs: 1000 });
  try {
    await link.ready(o.timeoutMs, o.signal);
    const connectMs = since(t0);
    // The best of a few echoes: the first one also pays for the code paths warming up.
    let best = Infinity;
    await withDeadline({ timeout: Math.max(1, o.timeoutMs - connectMs), signals: [o.signal], what: `a round trip through ${url}` }, async () => {
      for (let i = 0; i < ECHOES; i++) best = Math.min(best, await echo(link, topic, o));
    });
    return { url, ok: true, connectMs, rttMs: best };
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    return { url, ok: false, error: cause ? `${message(err)} (${message(cause)})` : message(err) };
  } finally {
    link.close();
  }
}

/** The allocations to try on one URI: UDP, and TCP (RFC 6062) where the link is TCP or TLS. */
function plan(uri: TurnUri, only: "udp" | "tcp" | undefined): Array<{ uri: TurnUri; relay: "udp" | "tcp"; configured: boolean }> {
  const relays: Array<"udp" | "tcp"> = uri.transport === "udp" ? ["udp"] : ["udp", "tcp"];
  const out = relays.filter((r) => !only || r === only).map((relay) => ({ uri, relay, configured: true }));
  // Only UDP configured: the same host and port over TCP says whether networks that block UDP can use the relay.
  if (uri.transport === "udp" && only !== "udp") {
    const tcp = parseTurnUri(`turn:${uri.host.includes(":") ? `[${uri.host}]` : uri.host}:${uri.port}?transport=tcp`);
    out.push({ uri: tcp, relay: "udp", configured: false });
  }
  return out;
}

async function allocateOnce(server: TurnServer, uri: TurnUri, relay: "udp" | "tcp", configured: boolean, o: ProbeOptions): Promise<TurnAllocationFacts> {
  const t0 = performance.now();
  const base = { uri: uri.uri, link: uri.transport, relay, configured };
  try {
    const c = await TurnClient.allocate({ server, uri, relay, lifetime: 60, timeout: o.timeoutMs, signal: o.signal, logger: o.logger });
    const ms = since(t0);
    const facts: TurnAllocationFacts = { ...base, ok: true, relayed: formatAddress(c.relayed), mapped: c.mapped && formatAddress(c.mapped), lifetimeS: c.lifetime, ms };
    await c.close(); // Refresh lifetime 0, bounded by the client (1 s)
    return { ...facts, released: true };
  } catch (err) {
    const reason = err instanceof TurnError ? err.reason : (err as Error)?.name === "TimeoutError" ? "timeout" : undefined;
    return { ...base, ok: false, ms: since(t0), reason, error: message(err) };
  }
}

/** Every allocation of one TURN server, in parallel. */
export async function checkTurn(server: TurnServer, only: "udp" | "tcp" | undefined, o: ProbeOptions): Promise<TurnAllocationFacts[]> {
  const key = (u: TurnUri) => `${u.host}|${u.port}`;
  const tcpGiven = new Set(server.uris.filter((u) => u.transport !== "udp").map(key));
  const runs = server.uris.flatMap((u) => plan(u, only)).filter((r) => r.configured || !tcpGiven.has(key(r.uri)));
  return Promise.all(runs.map((r) => allocateOnce(server, r.uri, r.relay, r.configured, o)));
}
