import dgram from "node:dgram";
import { TimeoutError } from "../errors.ts";
import { systemTimers, type Timers } from "../util/clock.ts";
import { deadline } from "../util/deadline.ts";
import { StunUdpClient, type BindingResult } from "../stun/client.ts";
import { encode, Method, newTransactionId } from "../stun/codec.ts";
import { formatAddress, sameAddress } from "../stun/ip.ts";
import type { FilteringObservation } from "./classify.ts";
import type { ProbeContext, ProbeResult } from "./probe.ts";
import { errText, firstIndex, graceMs, isRefused, noteRefused, settleWithin, step } from "./probe.ts";
import type { TransportAddress } from "./types.ts";

/**
 * UDP half of discovery, RFC 5780 §4.3/§4.4:
 * - test I to every server in parallel from one socket;
 * - mapping tests II (alternate IP, primary port), III (alternate IP and port)
 *   and, for the port pattern, IV (primary IP, alternate port), in order;
 * - filtering tests II (change IP and port) and III (change port) in parallel
 *   from a SECOND socket that has only ever talked to the primary address, so
 *   the mapping tests cannot open the filter they are measuring.
 */
export async function probeUdp(ctx: ProbeContext): Promise<ProbeResult> {
  const res: ProbeResult = { transport: "udp", firstHits: [], series: [], ordered: false, filtering: {}, timings: [], warnings: [] };
  const main = await StunUdpClient.open({ localAddress: ctx.localAddress, family: ctx.family, logger: ctx.logger, timers: ctx.timers });
  let filterSock: StunUdpClient | undefined;
  try {
    res.local = main.local;
    const perServer = (t: number) => Math.max(1, Math.min(t, ctx.remaining()));
    const lingering = new AbortController();
    const sig = AbortSignal.any([ctx.signal, lingering.signal]);
    const firstP = ctx.servers.map((s) =>
      step(ctx, res, "udp test I", s.uri, () => main.binding(s.addr, { signal: sig, timeout: perServer(1500) }), (r) => `mapped ${formatAddress(r.mapped)}`).then(async (r) => {
        // No answer: blocked, or nothing listens there? Only a connected socket hears the ICMP port unreachable.
        if (!r && !sig.aborted && (await udpRefused(s.addr, { family: ctx.family, localAddress: ctx.localAddress, signal: sig, ms: Math.min(500, ctx.remaining()), timers: ctx.timers }))) {
          noteRefused(res, s.uri);
          const t = res.timings.find((x) => x.step === "udp test I" && x.server === s.uri);
          if (t) t.detail = "no answer; ICMP port unreachable: server unreachable (down, or not on this port)";
        }
        return r;
      }),
    );
    // Go on as soon as an RFC 5780 server answered; the rest of test I runs alongside.
    const i5780 = await firstIndex(firstP, (r) => !!r.otherAddress && r.otherAddress.family === ctx.family);
    const collect = async () => {
      const first = await Promise.all(firstP);
      first.forEach((r, i) => {
        if (r) res.firstHits.push({ server: ctx.servers[i].uri, mapped: r.mapped, rttMs: Math.round(r.rttMs), rfc5780: !!r.otherAddress });
      });
      return first;
    };
    if (i5780 < 0) {
      const first = await collect();
      if (res.firstHits.length) res.warnings.push("no server sent OTHER-ADDRESS (RFC 5780): UDP mapping and filtering are only partly known");
      for (const [i, r] of first.entries()) if (r) res.series.push({ server: ctx.servers[i].addr, mapped: r.mapped });
      return res;
    }
    const first = [await firstP[i5780]];
    const t1 = first[0] as BindingResult;
    const primary = ctx.servers[i5780].addr;
    const other = t1.otherAddress!;
    const uri = ctx.servers[i5780].uri;
    res.series.push({ server: primary, mapped: t1.mapped });
    res.ordered = true;

    // Filtering: fresh socket, both tests at once; the wait scales with test I's RTT.
    const filterWait = () => Math.max(1, Math.min(1500, Math.max(400, 8 * t1.rttMs), ctx.remaining()));
    filterSock = await StunUdpClient.open({ localAddress: ctx.localAddress, family: ctx.family, logger: ctx.logger, timers: ctx.timers });
    const fs = filterSock;
    const filtering = Promise.all([
      answered(ctx, res, "udp filtering test II (change IP+port)", uri, () => fs.binding(primary, { changeIp: true, changePort: true, signal: ctx.signal, timeout: filterWait() })),
      answered(ctx, res, "udp filtering test III (change port)", uri, () => fs.binding(primary, { changePort: true, signal: ctx.signal, timeout: filterWait() })),
    ]).then(([ip, port]): FilteringObservation => ({ fromOtherIp: ip, fromOtherPort: port }));

    // Mapping: strictly in order, so the port pattern reflects allocation order.
    const targets = [
      { name: "udp mapping test II (alternate IP)", addr: { ...other, port: primary.port } },
      { name: "udp mapping test III (alternate IP+port)", addr: other },
      { name: "udp mapping test IV (alternate port)", addr: { ...primary, port: other.port } },
    ];
    for (const [n, t] of targets.entries()) {
      const r = await step(ctx, res, t.name, formatAddress(t.addr), () => main.binding(t.addr, { signal: ctx.signal, timeout: perServer(1500) }), (x) => `mapped ${formatAddress(x.mapped)}`);
      if (!r) break;
      res.series.push({ server: t.addr, mapped: r.mapped });
      // Test II equal to test I: endpoint-independent, stop (RFC 5780 §4.3).
      if (n === 0 && sameAddress(r.mapped, t1.mapped)) break;
    }
    res.filtering = await filtering;
    if (res.filtering.fromOtherIp === undefined) res.warnings.push("UDP filtering test did not complete");
    await settleWithin(firstP, Math.min(graceMs(t1.rttMs), ctx.remaining()), lingering, ctx.timers);
    await collect();
    return res;
  } finally {
    await main.close();
    await filterSock?.close();
  }
}

/** true = answered, false = no answer in time, undefined = could not test (error answer, aborted). */
async function answered(ctx: ProbeContext, res: ProbeResult, name: string, server: string, fn: () => Promise<BindingResult>): Promise<boolean | undefined> {
  const start = ctx.clock.now();
  try {
    const r = await fn();
    res.timings.push({ step: name, server, ms: Math.round(ctx.clock.now() - start), ok: true, detail: `answer from ${formatAddress(r.from)}` });
    return true;
  } catch (err) {
    const e = err as Error;
    const timeout = e instanceof TimeoutError;
    res.timings.push({ step: name, server, ms: Math.round(ctx.clock.now() - start), ok: timeout, detail: timeout ? "no answer (filtered)" : errText(e) });
    if (!timeout) res.warnings.push(`${name}: ${errText(e)}`);
    return timeout ? false : undefined;
  }
}

/**
 * Sends Binding requests to `server` from a CONNECTED socket (the only kind
 * the kernel tells about an ICMP port unreachable) and resolves true when it
 * reports one (ECONNREFUSED); false on an answer, on silence for `ms`, or on abort.
 */
export function udpRefused(server: TransportAddress, opts: { family: 4 | 6; localAddress?: string; signal: AbortSignal; ms: number; timers?: Timers }): Promise<boolean> {
  return new Promise((resolve) => {
    if (opts.signal.aborted) return resolve(false);
    const timers = opts.timers ?? systemTimers;
    const sock = dgram.createSocket(opts.family === 6 ? "udp6" : "udp4");
    const sends: Array<ReturnType<Timers["setTimeout"]>> = [];
    // Silence for `ms` and the caller's abort both end it as "not refused".
    const d = deadline({ timeout: Math.max(1, opts.ms), signals: [opts.signal], what: "ICMP port-unreachable check", timers });
    let done = false;
    const finish = (refused: boolean) => {
      if (done) return;
      done = true;
      for (const t of sends) timers.clearTimeout(t);
      d.signal.removeEventListener("abort", onStop);
      d.done();
      try {
        sock.close();
      } catch {
        // already closed
      }
      resolve(refused);
    };
    const onStop = () => finish(false);
    if (d.signal.aborted) return finish(false);
    d.signal.addEventListener("abort", onStop, { once: true });
    sock.on("error", (err) => finish(isRefused(err)));
    sock.on("message", () => finish(false));
    const req = encode({ method: Method.BINDING, class: "request", transactionId: newTransactionId(), attributes: [] });
    try {
      sock.bind({ address: opts.localAddress ?? (opts.family === 6 ? "::" : "0.0.0.0"), port: 0 }, () => {
        if (done) return;
        sock.connect(server.port, server.address, (err?: Error) => {
          if (err || done) return finish(false);
          // ICMP errors are rate-limited: a few tries.
          for (const at of [0, 100, 300]) sends.push(timers.setTimeout(() => !done && sock.send(req, (e) => e && finish(isRefused(e))), at));
        });
      });
    } catch {
      finish(false);
    }
  });
}
