/**
 * SSDP search for an Internet Gateway Device (UPnP Device Architecture 1.1
 * §1.3), bounded in time. Sent only toward the default gateway: a unicast
 * M-SEARCH to gateway:1900 (UDA 1.1 §1.3.2) and one multicast M-SEARCH on the
 * interface that carries the default route, never on every interface.
 */
import dgram from "node:dgram";
import { systemTimers, type Timers } from "../util/clock.ts";
import { deadline } from "../util/deadline.ts";
import { IGD1 } from "./soap.ts";

export const SSDP_ADDRESS = "239.255.255.250";
export const SSDP_PORT = 1900;

/** An M-SEARCH request. `mx` only for multicast (unicast searches have none, §1.3.2). */
export function buildMSearch(opts: { st?: string; host?: string; mx?: number } = {}): string {
  const host = opts.host ?? `${SSDP_ADDRESS}:${SSDP_PORT}`;
  const lines = ["M-SEARCH * HTTP/1.1", `HOST: ${host}`, 'MAN: "ssdp:discover"'];
  if (opts.mx !== undefined) lines.push(`MX: ${opts.mx}`);
  lines.push(`ST: ${opts.st ?? IGD1}`, "USER-AGENT: Node/20 UPnP/1.1 p2pnode/0.1", "", "");
  return lines.join("\r\n");
}

export interface SsdpAnswer {
  location: string;
  st: string;
  usn: string;
}

/** Reads a search answer (HTTP/1.1 200 OK over UDP, header names case-insensitive); undefined if not one. */
export function parseSsdpResponse(text: string): SsdpAnswer | undefined {
  const lines = text.split(/\r?\n/);
  if (!/^HTTP\/1\.[01] 200\b/i.test(lines[0] ?? "")) return undefined;
  const h: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) h[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  if (!h.location) return undefined;
  try {
    const u = new URL(h.location);
    if (u.protocol !== "http:") return undefined;
  } catch {
    return undefined;
  }
  return { location: h.location, st: h.st ?? "", usn: h.usn ?? "" };
}

/**
 * Searches for an IGD near `gateway`; resolves with the first answer whose
 * LOCATION host is the gateway (or, failing that within the wait, any answer
 * from the default-route LAN), or undefined after `timeoutMs`. Sends twice
 * (at 0 and ~1/3 of the wait), as UDP may drop one. Never throws for silence.
 */
export async function searchIgd(opts: { gateway: string; localAddress?: string; timeoutMs: number; signal?: AbortSignal; multicast?: boolean; timers?: Timers }): Promise<SsdpAnswer | undefined> {
  const timers = opts.timers ?? systemTimers;
  const sock = dgram.createSocket({ type: "udp4" });
  let resend: ReturnType<Timers["setTimeout"]> | undefined;
  let finish: (a: SsdpAnswer | undefined) => void = () => {};
  const result = new Promise<SsdpAnswer | undefined>((r) => (finish = r));
  let other: SsdpAnswer | undefined;
  // Out of time: the best answer so far (another LAN host's, or none); aborted: none.
  const d = deadline({ timeout: opts.timeoutMs, signals: [opts.signal], what: "SSDP search", timers });
  const onStop = () => finish(opts.signal?.aborted ? undefined : other);
  d.signal.addEventListener("abort", onStop, { once: true });
  sock.on("error", () => finish(other));
  sock.on("message", (msg) => {
    const a = parseSsdpResponse(msg.toString("latin1"));
    if (!a) return;
    if (new URL(a.location).hostname === opts.gateway) finish(a);
    else other ??= a;
  });
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind({ address: opts.localAddress ?? "0.0.0.0", port: 0 }, () => {
        sock.off("error", reject);
        resolve();
      });
    });
    const send = () => {
      try {
        sock.send(buildMSearch({ host: `${opts.gateway}:${SSDP_PORT}` }), SSDP_PORT, opts.gateway);
        if (opts.multicast !== false && opts.localAddress) {
          sock.setMulticastInterface(opts.localAddress);
          sock.setMulticastTTL(2);
          sock.send(buildMSearch({ mx: 1 }), SSDP_PORT, SSDP_ADDRESS);
        }
      } catch {
        // The network guard (tests) or a missing route: the unicast search is what matters.
      }
    };
    if (d.signal.aborted) return undefined;
    send();
    resend = timers.setTimeout(send, Math.max(50, Math.floor(opts.timeoutMs / 3)));
    return await result;
  } catch {
    return undefined;
  } finally {
    timers.clearTimeout(resend);
    d.signal.removeEventListener("abort", onStop);
    d.done();
    try {
      sock.close();
    } catch {
      // already closed
    }
  }
}
