import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { listInterfaces, parseDefaultRoutesV4, parseDefaultRoutesV6, publishedInterfaces } from "../../src/identity/interfaces.ts";

// Real /proc/net/route layout: tab-separated with a header and padded trailing blanks.
const pad = (line: string) => line + " ".repeat(63);
const ROUTE_V4 = [
  pad("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"),
  pad("eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0"), // default via 192.168.1.1
  pad("eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0"), // 192.168.1.0/24
  pad("wlan0\t00000000\t0100000A\t0003\t0\t0\t600\t00000000\t0\t0\t0"), // second default, higher metric
  pad("wlan0\t0000000A\t00000000\t0001\t0\t0\t600\t000000FF\t0\t0\t0"),
  pad("docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0"),
  pad("tun0\t00000000\t00000000\t0001\t0\t0\t0\t00000080\t0\t0\t0"), // 0.0.0.0/1 (VPN split): not a default
  pad("tun0\t00000080\t00000000\t0001\t0\t0\t0\t00000080\t0\t0\t0"), // 128.0.0.0/1
  "",
].join("\n");

// /proc/net/ipv6_route: dest plen src plen nexthop metric refcnt use flags dev.
const ROUTE_V6 = [
  "20010db8000000010000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0",
  "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0",
  "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000002 00000000 00450003     eth0",
  "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000600 00000001 00000000 00450003    wlan0",
  "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo", // unreachable default
  "00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000004 00000000 80200001       lo",
  "ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0",
  "20000000000000000000000000000000 03 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000002 00000000 00000003     tun0", // 2000::/3: not a default
  "",
].join("\n");

describe("parseDefaultRoutesV4", () => {
  const table: Array<[string, string, string[]]> = [
    ["two defaults among other routes", ROUTE_V4, ["eth0", "wlan0"]],
    ["header only", ROUTE_V4.split("\n")[0], []],
    ["empty (no /proc)", "", []],
    ["no default route", [ROUTE_V4.split("\n")[0], ROUTE_V4.split("\n")[2]].join("\n"), []],
    ["CRLF-free single default without header padding", "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\nens3\t00000000\t0101000A\t0003\t0\t0\t0\t00000000\t0\t0\t0", ["ens3"]],
    ["the header line is never an interface", "eth9\t00000000\t00000000\t0003\t0\t0\t0\t00000000\t0\t0\t0", []],
    ["truncated line", ROUTE_V4.split("\n")[0] + "\neth0\t00000000\t0101A8C0", []],
  ];
  for (const [label, text, expected] of table) it(label, () => assert.deepEqual(parseDefaultRoutesV4(text), expected));
});

describe("parseDefaultRoutesV6", () => {
  const table: Array<[string, string, string[]]> = [
    ["defaults on eth0 and wlan0; lo's unreachable default ignored", ROUTE_V6, ["eth0", "wlan0"]],
    ["empty (IPv6 disabled)", "", []],
    ["only the unreachable default on lo", ROUTE_V6.split("\n")[4], []],
    ["2000::/3 is not a default", ROUTE_V6.split("\n")[7], []],
    ["truncated line", "00000000000000000000000000000000 00 00000000000000000000000000000000", []],
  ];
  for (const [label, text, expected] of table) it(label, () => assert.deepEqual(parseDefaultRoutesV6(text), expected));
});

describe("listInterfaces", () => {
  it("returns at least loopback, with no link-local IPv6", () => {
    const list = listInterfaces();
    const lo = list.find((i) => i.v4.includes("127.0.0.1") || i.v6.includes("::1"));
    assert.ok(lo, `no loopback among ${JSON.stringify(list)}`);
    assert.equal(lo.internal, true);
    assert.equal(lo.isDefault, false);
    for (const i of list) {
      assert.ok(i.v4.length + i.v6.length > 0, i.name);
      for (const ip of i.v6) assert.ok(!ip.toLowerCase().startsWith("fe80"), ip);
    }
  });
});


it("publishedInterfaces: wildcard publishes external interfaces; hosts publish just those addresses", () => {
  const all = [
    { name: "lo", v4: ["127.0.0.1"], v6: ["::1"], internal: true, isDefault: false },
    { name: "eth0", v4: ["10.77.1.11"], v6: [], internal: false, isDefault: true },
    { name: "eth1", v4: ["203.0.113.20"], v6: ["2001:db8::1"], internal: false, isDefault: false },
  ];
  const wild = publishedInterfaces(all, { port: 4000 });
  assert.deepEqual(wild.map((i) => i.name), ["eth0", "eth1"]);
  assert.deepEqual(wild[0].v4, { private: ["10.77.1.11"], public: [] });
  assert.deepEqual(wild[1].v4, { private: [], public: ["203.0.113.20"] });
  assert.ok(wild.every((i) => i.port === 4000 && i.nat.tcp.type === "unknown"));
  assert.deepEqual(publishedInterfaces(all, { port: 1, names: ["eth1"] }).map((i) => i.name), ["eth1"]);
  const lo = publishedInterfaces(all, { port: 1, hosts: ["127.0.0.1"] });
  assert.deepEqual(lo.map((i) => [i.name, i.v4.private, i.v6]), [["lo", ["127.0.0.1"], []]]);
  const extra = publishedInterfaces(all, { port: 1, hosts: ["127.0.0.2"] });
  assert.deepEqual(extra.map((i) => [i.name, i.v4.private]), [["lo", ["127.0.0.2"]]]);
  assert.deepEqual(publishedInterfaces([all[0]], { port: 1 }).map((i) => i.name), ["lo"], "loopback only when nothing else");
});
