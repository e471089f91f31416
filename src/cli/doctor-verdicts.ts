/**
 * What the doctor's facts mean, in plain words (pure; table-tested in
 * test/cli/doctor-verdicts.test.ts). p2pnode connects over TCP (direct,
 * reverse, punch) and relays over TURN, so the TCP NAT kind of the default
 * interface decides the connectivity verdicts; UDP matters for the relay.
 * Every "fail" verdict is a configured server that did not work: it sets the
 * exit code (docs/doctor.md).
 */
import { summarize } from "../nat/summary.ts";
import type { NatReport, NatTypeName, TransportReport } from "../nat/types.ts";
import { punchClass } from "../strategies/punch/applicability.ts";
import { EXIT } from "./output.ts";
import type { DoctorFacts, DoctorInterface, TurnAllocationFacts, Verdict, VerdictLevel } from "./doctor-types.ts";

export const NAT_WORDS: Record<NatTypeName, string> = {
  open: "no NAT and nothing filtered",
  firewall: "no NAT, but a firewall drops unsolicited traffic",
  "full-cone": "a full-cone NAT",
  restricted: "a restricted-cone NAT",
  "port-restricted": "a port-restricted-cone NAT",
  symmetric: "a symmetric NAT",
  "symmetric-sequential": "a symmetric NAT with sequential ports",
  "symmetric-random": "a symmetric NAT with random ports",
  blocked: "no STUN answer",
  unknown: "an unknown NAT kind",
};

/** The interface the verdicts speak for: the default one with a report, else the first with a report. */
export function mainInterface(facts: DoctorFacts): DoctorInterface | undefined {
  const measured = facts.interfaces.filter((i) => i.nat);
  return measured.find((i) => i.isDefault) ?? measured[0];
}

/** A transport with an answer from at least one STUN server. */
const answered = (t: TransportReport | undefined): t is TransportReport => !!t && t.publicAddresses.length > 0;

/** The transport the connectivity verdicts go by: TCP when it was measured, else UDP (the same box). */
function decisive(r: NatReport): TransportReport | undefined {
  if (answered(r.tcp) && r.tcp.natType !== "unknown") return r.tcp;
  if (answered(r.udp)) return r.udp;
  return answered(r.tcp) ? r.tcp : undefined;
}

function turnProblem(a: TurnAllocationFacts, user: string): string {
  const what = `TURN ${a.uri} (${a.relay.toUpperCase()} allocation)`;
  switch (a.reason) {
    case "wrong-credentials":
    case "wrong-credentials-for-allocation":
      return `${what}: the relay refused the credentials of user ${JSON.stringify(user)}; check --turn-user and the password (P2PNODE_TURN_PASS or --turn-pass-file)`;
    case "forbidden":
      return `${what}: the relay forbids this user (403); ask its operator`;
    case "unsupported-transport":
      return `${what}: the relay does not offer ${a.relay.toUpperCase()} allocations (442)`;
    case "quota":
    case "capacity":
      return `${what}: the relay is full (${a.reason}); try later or another relay`;
    case "timeout":
      return `${what}: no answer${a.link === "udp" ? " (is the relay running? is UDP blocked on this network? try ?transport=tcp)" : " (is the relay running on this port?)"}`;
    default:
      return `${what}: ${a.error ?? "failed"}`;
  }
}

function natVerdicts(facts: DoctorFacts, push: (level: VerdictLevel, id: string, text: string) => void): void {
  if (facts.config.stun.length === 0) {
    push("warn", "nat-unknown", "no STUN server configured (--stun): the NAT kind is unknown, and hole punching needs one");
    return;
  }
  const main = mainInterface(facts);
  const r = main?.nat;
  if (!r) {
    push("fail", "stun-failed", `NAT discovery did not run${main?.natError ? `: ${main.natError}` : facts.interfaces.some((i) => i.natError) ? `: ${facts.interfaces.find((i) => i.natError)!.natError}` : " (no interface with an IPv4 address)"}`);
    return;
  }
  const t = decisive(r);
  if (!t) {
    const refused = [...(r.udp?.unreachable ?? []), ...(r.tcp?.unreachable ?? [])];
    push(
      "fail",
      "stun-failed",
      refused.length
        ? `STUN server unreachable (${[...new Set(refused)].join(", ")} refused): it is down or not on this port; the NAT kind is unknown`
        : "no STUN server answered over UDP or TCP: the servers are down or this network blocks them; the NAT kind is unknown",
    );
    return;
  }
  if (!answered(r.udp) && r.udp) push("warn", "udp-blocked", "no STUN answer over UDP, only over TCP: UDP may be blocked here; reach TURN relays over TCP (turn:HOST:PORT?transport=tcp)");
  const kind = t.natType;
  const via = `${t.transport.toUpperCase()}: ${NAT_WORDS[kind]}`;
  if (kind === "unknown") {
    push("warn", "nat-unknown", "STUN answered but the NAT kind could not be classified (a server without RFC 5780, or too few answers): whether peers can dial you, or punch to you, is not known");
    return;
  }
  if (kind === "open") {
    push("ok", "reachable", `you are reachable directly (${via}): peers anywhere can open a connection to you`);
    return;
  }
  const mapped = facts.portmap.pcp.status === "yes" || facts.portmap.natPmp.status === "yes" || facts.portmap.upnp.status === "yes";
  push("info", "guarded", `peers cannot dial you directly (${via}): they ask you to dial them (reverse connect) or punch${mapped ? "; your gateway offers port mapping, which can make you reachable" : ""}`);
  switch (punchClass(summarize(t))) {
    case "fixed":
      push("ok", "punch", "hole punching works with peers behind cone NATs, firewalls and symmetric NATs with sequential ports; peers behind symmetric NATs with random ports will need the relay");
      break;
    case "predictable":
      push("info", "punch", "hole punching works with peers behind cone NATs (your next ports are predicted), maybe with another sequential NAT; peers behind symmetric NATs with random ports will need the relay");
      break;
    case "random":
      push("warn", "punch", "hole punching cannot work from here (your NAT picks random ports): every peer that does not accept connections will need the relay");
      break;
    default:
      push("info", "punch", "the NAT's port allocation is not fully known: hole punching may or may not work");
  }
}

function relayVerdicts(facts: DoctorFacts, push: (level: VerdictLevel, id: string, text: string) => void): void {
  const main = mainInterface(facts)?.nat;
  const t = main && decisive(main);
  const random = t ? punchClass(summarize(t)) === "random" : false;
  const open = t?.natType === "open";
  if (facts.turn.length === 0) {
    if (random) push("warn", "relay", "no TURN server configured (--turn): you cannot connect to peers that do not accept connections");
    else push("info", "relay", `no TURN server configured (--turn): two symmetric NATs with random ports cannot connect${open ? " (you are reachable, so peers can still reach you)" : ""}`);
    return;
  }
  const working: string[] = [];
  for (const s of facts.turn) {
    for (const a of s.allocations) {
      if (a.ok && a.configured) working.push(`${a.uri} ${a.relay.toUpperCase()}`);
      else if (!a.ok && a.configured) push("fail", "turn-failed", turnProblem(a, s.user));
      else if (a.ok) push("info", "turn-tcp", `TURN ${a.uri} also works (${a.relay.toUpperCase()} allocation): list it with --turn for networks that block UDP`);
      else push("info", "turn-tcp", `TURN over TCP at ${a.uri} did not work (${a.error ?? a.reason ?? "failed"}): networks that block UDP cannot use this relay`);
    }
  }
  if (working.length) push("ok", "relay", `relay ready (${working.join(", ")}): peers that nothing else reaches connect through it`);
  else push("fail", "relay", "no configured TURN allocation worked: peers that nothing else reaches cannot connect");
}

function signalingVerdicts(facts: DoctorFacts, push: (level: VerdictLevel, id: string, text: string) => void): void {
  if (facts.brokers.length === 0) {
    push("warn", "signaling", "no signaling broker configured (--signal): only direct connections work (no reverse connect, hole punching, relay or connecting by node id)");
    return;
  }
  for (const b of facts.brokers) if (!b.ok) push("fail", "broker-down", `signaling broker ${b.url} unreachable: ${b.error ?? "no answer"}; is it running, and is the port open?`);
  const up = facts.brokers.filter((b) => b.ok);
  if (up.length === 0) {
    push("fail", "signaling", "no signaling broker reachable: only direct connections work (no reverse connect, hole punching, relay or connecting by node id)");
    return;
  }
  const best = Math.min(...up.map((b) => b.rttMs ?? Infinity));
  push("ok", "signaling", `signaling works through ${up.length} of ${facts.brokers.length} broker${facts.brokers.length > 1 ? "s" : ""}${Number.isFinite(best) ? ` (best round trip ${best} ms)` : ""}`);
}

/** One verdict per interface measured over IPv6 (TCP decides, as for IPv4); one line for the IPv6 left unmeasured. */
export function ipv6Verdicts(facts: DoctorFacts, push: (level: VerdictLevel, id: string, text: string) => void): void {
  for (const i of facts.interfaces) {
    const t = i.nat6 && decisive(i.nat6);
    if (!i.nat6) continue;
    if (!t) push("warn", "ipv6", `IPv6 on ${i.name}: no IPv6 STUN server answered (${i.nat6.servers.join(", ")}): IPv6 kind unknown; is IPv6 routed, is the server up?`);
    else if (t.natType === "open") push("ok", "ipv6", `IPv6 on ${i.name}: ${NAT_WORDS.open} (${t.transport.toUpperCase()} dial-back arrived): peers with IPv6 connect directly`);
    else if (t.natType === "firewall") push("info", "ipv6", `IPv6 on ${i.name}: ${NAT_WORDS.firewall} (stateful firewall, ${t.filtering} filtering over ${t.transport.toUpperCase()}): peers with IPv6 reach you by punching (TCP simultaneous open)`);
    else push("info", "ipv6", `IPv6 on ${i.name}: ${NAT_WORDS[t.natType]} (${t.natType}; NAT66/NPTv6 or an unusual firewall)`);
  }
  const unmeasured = facts.interfaces.filter((i) => i.v6.length && !i.nat6);
  if (unmeasured.length) {
    const why = [...new Set(unmeasured.map((i) => i.nat6Error).filter(Boolean))].join("; ") || "IPv6 discovery did not run";
    push("info", "ipv6", `IPv6 addresses on ${unmeasured.map((i) => i.name).join(", ")}: no IPv6 verdict (${why})`);
  }
}

function otherVerdicts(facts: DoctorFacts, push: (level: VerdictLevel, id: string, text: string) => void): void {
  ipv6Verdicts(facts, push);
  const pm = facts.portmap;
  if (pm.method === "skipped") push("info", "portmap", "port mapping not probed (no IPv4 default gateway, or --no-portmap)");
  else {
    const spoken = [pm.pcp.status !== "no" && pm.pcp.status !== "not-checked" && "PCP", pm.natPmp.status !== "no" && pm.natPmp.status !== "not-checked" && "NAT-PMP", pm.upnp.status !== "no" && pm.upnp.status !== "not-checked" && `UPnP IGD${pm.upnp.igd ? ` v${pm.upnp.igd}` : ""}`].filter(Boolean);
    push("info", "portmap", spoken.length ? `gateway ${pm.gateway} speaks ${spoken.join(", ")}` : `gateway ${pm.gateway} answers no port-mapping protocol (PCP, NAT-PMP, UPnP IGD)`);
  }
  const c = facts.clock;
  if (c.offsetMs === null) push("info", "clock", `clock offset unknown: ${c.reason}`);
  else if (Math.abs(c.offsetMs) > 30_000) push("warn", "clock", `your clock is ${Math.round(c.offsetMs / 1000)} s off (${c.source}): signed addresses may look expired or not yet valid to peers; synchronise it (NTP)`);
  else push("ok", "clock", `clock offset ${c.offsetMs} ms (${c.source})`);
}

/** The verdicts, in the order they are printed: NAT, signaling, relay, the rest. */
export function verdicts(facts: DoctorFacts): Verdict[] {
  const out: Verdict[] = [];
  const push = (level: VerdictLevel, id: string, text: string) => void out.push({ level, id, text });
  natVerdicts(facts, push);
  signalingVerdicts(facts, push);
  relayVerdicts(facts, push);
  otherVerdicts(facts, push);
  return out;
}

/** 0 when every configured server worked, 1 (EXIT.error) when one failed. */
export function exitCodeOf(list: readonly Verdict[]): number {
  return list.some((v) => v.level === "fail") ? EXIT.error : EXIT.ok;
}
