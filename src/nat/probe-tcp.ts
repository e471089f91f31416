import { StunTcpConnection, type DialBackResult } from "../stun/client.ts";
import { formatAddress } from "../stun/ip.ts";
import type { ProbeContext, ProbeResult } from "./probe.ts";
import { firstIndex, graceMs, settleWithin, step } from "./probe.ts";

/**
 * TCP half of discovery. Mapping: connections from ONE local port L to every
 * server (test I), then to the RFC 5780 server's other address/ports in order.
 * Filtering: from a SECOND local port that only ever connected to the primary
 * address, ask for a dial-back from the alternate IP, then (if that did not
 * arrive) from the primary IP on another port (docs/stun.md "Dial-back").
 * Without a dial-back capable server, TCP filtering stays "unknown".
 */
export async function probeTcp(ctx: ProbeContext): Promise<ProbeResult> {
  const res: ProbeResult = { transport: "tcp", firstHits: [], series: [], ordered: false, filtering: {}, timings: [], warnings: [] };
  const conns: StunTcpConnection[] = [];
  const budget = (t: number) => Math.max(1, Math.min(t, ctx.remaining()));
  const bind = (server: ProbeContext["servers"][number], name: string, port?: number, extra?: AbortSignal) =>
    step(
      ctx,
      res,
      name,
      server.uri,
      async () => {
        const signal = extra ? AbortSignal.any([ctx.signal, extra]) : ctx.signal;
        // Test I decides whether TCP works at all: give it the kernel's second SYN retransmit
        // (1 s, then 3 s) so one lost SYN on a lossy link does not read as "blocked".
        const c = await StunTcpConnection.connect(server.addr, { localAddress: ctx.localAddress, localPort: port, signal, timeout: budget(port === undefined ? 3500 : 1500), logger: ctx.logger, timers: ctx.timers });
        conns.push(c);
        return { conn: c, r: await c.binding({ signal, timeout: budget(1500) }) };
      },
      (x) => `mapped ${formatAddress(x.r.mapped)} from local port ${x.conn.local.port}`,
    );
  try {
    // Test I to every server in parallel (each from its own port). Then the
    // mapping series runs from ONE local port L: the one that reached the
    // RFC 5780 server (or the first server that answered).
    const lingering = new AbortController();
    const allP = ctx.servers.map((s) => bind(s, "tcp test I", undefined, lingering.signal));
    const collect = async () => {
      const all = await Promise.all(allP);
      all.forEach((x, i) => {
        if (x) res.firstHits.push({ server: ctx.servers[i].uri, mapped: x.r.mapped, rttMs: Math.round(x.r.rttMs), rfc5780: !!x.r.otherAddress });
      });
      return all;
    };
    const i5780 = await firstIndex(allP, (x) => !!x.r.otherAddress && x.r.otherAddress.family === ctx.family);
    let iBase = i5780;
    let all: Array<Awaited<(typeof allP)[number]>> = [];
    if (i5780 < 0) {
      all = await collect();
      iBase = all.findIndex((x) => x);
      if (iBase < 0) return res;
    } else {
      all[i5780] = await allP[i5780];
    }
    const base = all[iBase]!;
    const server = ctx.servers[iBase];
    const localPort = base.conn.local.port;
    res.local = base.conn.local;
    res.series.push({ server: server.addr, mapped: base.r.mapped });
    res.ordered = true;
    let targets: Array<{ name: string; addr: typeof server.addr }>;
    let filtering: Promise<ProbeResult["filtering"]> = Promise.resolve({});
    if (i5780 < 0) {
      res.warnings.push("no server sent OTHER-ADDRESS over TCP: TCP mapping is only partly known and filtering unknown");
      targets = ctx.servers.filter((_, i) => i !== iBase && all[i]).map((s) => ({ name: "tcp mapping (same local port)", addr: s.addr }));
    } else {
      const other = base.r.otherAddress!;
      targets = [
        { name: "tcp mapping test II (alternate IP)", addr: { ...other, port: server.addr.port } },
        { name: "tcp mapping test III (alternate IP+port)", addr: other },
        { name: "tcp mapping test IV (alternate port)", addr: { ...server.addr, port: other.port } },
      ];
      filtering = probeTcpFiltering(ctx, res, server, base.r.rttMs, conns);
    }
    for (const t of targets) {
      const x = await bind({ uri: formatAddress(t.addr), addr: t.addr }, t.name, localPort);
      if (!x) break;
      res.series.push({ server: t.addr, mapped: x.r.mapped });
    }
    res.filtering = await filtering;
    if (i5780 >= 0) {
      await settleWithin(allP, Math.min(graceMs(base.r.rttMs), ctx.remaining()), lingering, ctx.timers);
      await collect();
    }
    return res;
  } finally {
    await Promise.all(conns.map((c) => c.close()));
  }
}

async function probeTcpFiltering(ctx: ProbeContext, res: ProbeResult, server: ProbeContext["servers"][number], rttMs: number, conns: StunTcpConnection[]): Promise<ProbeResult["filtering"]> {
  const wait = () => Math.max(1, Math.min(1000, Math.max(300, 6 * rttMs), ctx.remaining()));
  const conn = await step(ctx, res, "tcp filtering connect (fresh local port)", server.uri, () =>
    StunTcpConnection.connect(server.addr, { localAddress: ctx.localAddress, signal: ctx.signal, timeout: Math.max(1, Math.min(1500, ctx.remaining())), logger: ctx.logger, timers: ctx.timers }), (c) => `local port ${c.local.port}`);
  if (!conn) return {};
  conns.push(conn);
  const dial = (changeIp: boolean) =>
    step(ctx, res, `tcp dial-back (${changeIp ? "alternate IP" : "same IP, other port"})`, server.uri, () => conn.dialBack({ changeIp, wait: wait(), signal: ctx.signal, timeout: Math.max(1, Math.min(1500, ctx.remaining())) }), describe);
  const a = await dial(true);
  if (!a || !a.supported) {
    res.warnings.push(`server ${server.uri} does not offer the TCP dial-back${a?.error ? ` (${a.error})` : ""}: TCP filtering unknown`);
    return {};
  }
  if (a.arrived) return { fromOtherIp: true };
  const b = await dial(false);
  if (!b || !b.supported) return { fromOtherIp: false };
  return { fromOtherIp: false, fromOtherPort: b.arrived };
}

function describe(d: DialBackResult): string {
  if (!d.supported) return d.error ? `not offered (${d.error})` : "not offered by the server";
  return d.arrived ? `arrived from ${d.from ? formatAddress(d.from) : "server"}` : "did not arrive (filtered)";
}
