/**
 * nftables rulesets for the lab's routers, one per NAT kind (RFC 4787 for UDP,
 * RFC 5382 for TCP). Pure text generation: `lab.setNat()` loads the result in
 * one atomic `nft -f` transaction and then flushes the router's conntrack.
 *
 * Every kind drops (never rejects) unsolicited inbound from the wan: a RST or
 * ICMP from the router would kill TCP simultaneous open.
 */

export const NAT_KINDS = [
  "open",
  "firewall",
  "full-cone",
  "restricted",
  "port-restricted",
  "symmetric-sequential",
  "symmetric-random",
] as const;

export type NatKind = (typeof NAT_KINDS)[number];

export interface NatOptions {
  /** Forward LAN → own public address back into the LAN (RFC 4787 REQ-9). @default false */
  hairpin?: boolean;
  /** Drop every forwarded UDP packet (a "TCP only" network). @default false */
  blockUdp?: boolean;
}

/** The behaviour each kind must show; the lab self-test measures against this table. */
export const EXPECTED: Record<NatKind, { nat: boolean; mapping: "none" | "EIM" | "APDM"; filtering: "none" | "EIF" | "ADF" | "APDF" | "all" }> = {
  open: { nat: false, mapping: "none", filtering: "none" },
  firewall: { nat: false, mapping: "none", filtering: "all" },
  "full-cone": { nat: true, mapping: "EIM", filtering: "EIF" },
  restricted: { nat: true, mapping: "EIM", filtering: "ADF" },
  "port-restricted": { nat: true, mapping: "EIM", filtering: "APDF" },
  "symmetric-sequential": { nat: true, mapping: "APDM", filtering: "APDF" },
  "symmetric-random": { nat: true, mapping: "APDM", filtering: "APDF" },
};

export interface RouterSpec {
  kind: NatKind;
  wanIp: string;
  /** Prefix of the network behind the router (LAN, or the CGNAT link for an outer router). */
  lanNet: string;
  hairpin: boolean;
  blockUdp: boolean;
  /** Extra accept rules for the router's own input from the wan (e.g. miniupnpd's STUN replies). */
  extraInput: string[];
}

export const TABLE = "p2pn";
const WAN = '"wan0"';
const LAN = '"lan0"';
/** First port of the symmetric-sequential allocator, and its range. */
const SEQ_OFFSET = 20000;
const SEQ_RANGE = 512;

/** One-line nft recipe per kind (what docs/lab.md shows). */
export const RECIPE: Record<NatKind, string> = {
  open: "no NAT; forward accept (the site's public /28 is routed to the router)",
  firewall: "no NAT; forward: ct state established,related accept; lan → wan accept; rest drop",
  "full-cone": "masquerade + learn map {proto . mapped port : lan ip . lan port} after NAT; wan ct state new → dnat via the map",
  restricted: "as full-cone, plus a set {remote ip . proto . mapped port}; dnat only if the sender's IP was contacted",
  "port-restricted": "masquerade (port-preserving); conntrack alone filters",
  "symmetric-sequential": `snat to WAN : numgen inc mod ${SEQ_RANGE} map { 0 : ${SEQ_OFFSET}, 1 : ${SEQ_OFFSET + 1}, … } (one counter per router)`,
  "symmetric-random": "masquerade fully-random",
};

/** The whole `table ip p2pn` for a router, preceded by its own deletion (idempotent load). */
export function routerRuleset(r: RouterSpec): string {
  const nat = r.kind !== "open" && r.kind !== "firewall";
  const lines: string[] = [];
  const add = (s: string) => lines.push(s);
  add(`table ip ${TABLE}`);
  add(`delete table ip ${TABLE}`);
  add(`table ip ${TABLE} {`);
  // What the NAT has mapped: mapped port → LAN endpoint, and who each mapping has contacted.
  add("  map mapped { type inet_proto . inet_service : ipv4_addr . inet_service; flags dynamic,timeout; timeout 3m; }");
  add("  set contacted { type ipv4_addr . inet_proto . inet_service; flags dynamic,timeout; timeout 3m; }");

  add("  chain input { type filter hook input priority filter; policy accept;");
  add(`    iifname ${WAN} ct state established,related accept`);
  add(`    iifname ${WAN} jump input_extra`);
  add(`    iifname ${WAN} drop`);
  add("  }");
  add("  chain input_extra {");
  for (const rule of r.extraInput) add(`    ${rule}`);
  add("  }");

  add("  chain forward { type filter hook forward priority filter; policy drop;");
  if (r.blockUdp) add("    meta l4proto udp drop");
  add("    ct state invalid drop");
  add("    ct state established,related accept");
  add(`    iifname ${LAN} accept`);
  if (r.kind === "open") add(`    iifname ${WAN} accept`);
  // Inbound that a DNAT let in: full/restricted cone, hairpin, miniupnpd port mappings.
  if (r.kind !== "firewall" && r.kind !== "open") add("    ct status dnat accept");
  add("  }");

  if (nat) {
    add("  chain prerouting { type nat hook prerouting priority dstnat; policy accept;");
    if (r.kind === "full-cone") {
      add(`    iifname ${WAN} ct state new meta l4proto { tcp, udp } dnat to meta l4proto . th dport map @mapped`);
    } else if (r.kind === "restricted") {
      add(`    iifname ${WAN} ct state new meta l4proto { tcp, udp } ip saddr . meta l4proto . th dport @contacted dnat to meta l4proto . th dport map @mapped`);
    }
    if (r.hairpin) add(`    iifname ${LAN} ip daddr ${r.wanIp} meta l4proto { tcp, udp } dnat to meta l4proto . th dport map @mapped`);
    add("  }");

    add("  chain postrouting { type nat hook postrouting priority srcnat; policy accept;");
    if (r.kind === "symmetric-sequential") {
      // `numgen inc mod N offset P` straight into the port is byte-swapped (steps of 256); a map
      // from counter to inet_service gets the byte order right.
      const ports = Array.from({ length: SEQ_RANGE }, (_, i) => `${i} : ${SEQ_OFFSET + i}`).join(", ");
      add(`    oifname ${WAN} meta l4proto { tcp, udp } snat to ${r.wanIp} : numgen inc mod ${SEQ_RANGE} map { ${ports} }`);
      add(`    oifname ${WAN} masquerade`);
    } else if (r.kind === "symmetric-random") {
      add(`    oifname ${WAN} masquerade fully-random`);
    } else {
      add(`    oifname ${WAN} masquerade`);
    }
    // Hairpin: the LAN peer must see the sender's public mapping, not its LAN address.
    if (r.hairpin) add(`    oifname ${LAN} ip saddr ${r.lanNet} ct status dnat snat to ${r.wanIp}`);
    add("  }");

    // Runs after the NAT rewrote the packet: th sport is now the mapped port.
    add("  chain learn { type filter hook postrouting priority srcnat + 10; policy accept;");
    add(`    oifname ${WAN} meta l4proto { tcp, udp } ct direction original update @mapped { meta l4proto . th sport : ct original ip saddr . ct original proto-src }`);
    add(`    oifname ${WAN} meta l4proto { tcp, udp } ct direction original update @contacted { ip daddr . meta l4proto . th sport }`);
    add("  }");
  }
  add("}");
  return lines.join("\n") + "\n";
}

/** Impairment table on a router's wan0 (loss each way); separate so setNat() keeps it. */
export function impairRuleset(lossPct: number): string {
  const lines = ["table ip p2pn_imp", "delete table ip p2pn_imp"];
  if (lossPct > 0) {
    const n = Math.round(lossPct * 100); // out of 10000
    lines.push(
      "table ip p2pn_imp {",
      // raw priority: inbound losses happen before conntrack sees the packet.
      `  chain in { type filter hook prerouting priority raw; policy accept; iifname ${WAN} numgen random mod 10000 < ${n} drop; }`,
      `  chain out { type filter hook postrouting priority 300; policy accept; oifname ${WAN} numgen random mod 10000 < ${n} drop; }`,
      "}",
    );
  }
  return lines.join("\n") + "\n";
}

/** What a site router does with IPv6 (no NAT66): `open` forwards everything, `firewall` is RFC 6092's stateful default. */
export type Firewall6Kind = "open" | "firewall";

export const TABLE6 = "p2pn6";

/**
 * Mark that the lab's IPv6 miniupnpd table (miniupnpd6.ts) leaves on a packet one of
 * its pinholes accepted; the firewall accepts it. Nothing else sets it.
 */
export const PINHOLE_MARK = "0x00000606";

/**
 * The router's `table ip6 p2pn6` (own deletion first: idempotent load). `firewall`
 * (RFC 6092 REC-11 and -34): outbound and its replies pass, unsolicited inbound is
 * dropped — never rejected, so a TCP simultaneous open survives the early SYN.
 * ICMPv6 echo and packet-too-big always pass (REC-8/REC-10); errors for our own
 * flows are `related`. NDP is the router's own input, which this table leaves alone.
 */
export function firewall6Ruleset(kind: Firewall6Kind): string {
  return [
    `table ip6 ${TABLE6}`,
    `delete table ip6 ${TABLE6}`,
    `table ip6 ${TABLE6} {`,
    "  chain forward { type filter hook forward priority filter; policy drop;",
    "    ct state invalid drop",
    "    ct state established,related accept",
    "    icmpv6 type { echo-request, echo-reply, packet-too-big } accept",
    `    iifname ${LAN} accept`,
    // A miniupnpd IPv6 pinhole (UPnP AddPinhole / PCP MAP for an IPv6 address) let it in.
    `    iifname ${WAN} meta mark ${PINHOLE_MARK} accept`,
    ...(kind === "open" ? [`    iifname ${WAN} accept`] : []),
    "  }",
    "}",
  ].join("\n") + "\n";
}
