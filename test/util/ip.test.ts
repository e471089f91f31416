import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifyIp, ipv4ToBytes, ipv6FromBytes, ipv6ToBytes, isLoopback, isPrivateOrLocal } from "../../src/util/ip.ts";

describe("ipv6ToBytes / ipv6FromBytes", () => {
  // [input, 16 bytes as hex, RFC 5952 canonical text]
  const table: Array<[string, string, string]> = [
    ["::", "00000000000000000000000000000000", "::"],
    ["0:0:0:0:0:0:0:0", "00000000000000000000000000000000", "::"],
    ["::1", "00000000000000000000000000000001", "::1"],
    ["0:0:0:0:0:0:0:1", "00000000000000000000000000000001", "::1"],
    ["1::", "00010000000000000000000000000000", "1::"],
    ["2001:db8::1", "20010db8000000000000000000000001", "2001:db8::1"],
    ["2001:DB8::1", "20010db8000000000000000000000001", "2001:db8::1"], // §4.3 lowercase
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "20010db8000000000000000000000001", "2001:db8::1"], // §4.1 no leading zeros
    ["2001:db8:0:0:1:0:0:1", "20010db8000000000001000000000001", "2001:db8::1:0:0:1"], // §4.2.3 first of equal runs
    ["2001:0:0:1:0:0:0:1", "20010000000000010000000000000001", "2001:0:0:1::1"], // §4.2.3 longest run
    ["2001:db8:0:1:1:1:1:1", "20010db8000000010001000100010001", "2001:db8:0:1:1:1:1:1"], // §4.2.2 no "::" for one group
    ["2001:db8::1:1:1:1:1", "20010db8000000010001000100010001", "2001:db8:0:1:1:1:1:1"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008", "1:2:3:4:5:6:7:8"],
    ["1:2:3:4:5:6:7::", "00010002000300040005000600070000", "1:2:3:4:5:6:7:0"],
    ["::2:3:4:5:6:7:8", "00000002000300040005000600070008", "0:2:3:4:5:6:7:8"],
    ["1:0:0:4:5:0:0:0", "00010000000000040005000000000000", "1:0:0:4:5::"],
    ["fe80::1", "fe800000000000000000000000000001", "fe80::1"],
    ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffffffffffffffffffffffffffffffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    // Embedded IPv4. IPv4-mapped addresses use the mixed notation (RFC 5952 §5), as Node prints them.
    ["::ffff:192.0.2.1", "00000000000000000000ffffc0000201", "::ffff:192.0.2.1"],
    ["::ffff:c000:201", "00000000000000000000ffffc0000201", "::ffff:192.0.2.1"],
    ["::FFFF:127.0.0.1", "00000000000000000000ffff7f000001", "::ffff:127.0.0.1"],
    ["::ffff:0.0.0.0", "00000000000000000000ffff00000000", "::ffff:0.0.0.0"],
    ["::1.2.3.4", "00000000000000000000000001020304", "::102:304"],
    ["64:ff9b::192.0.2.33", "0064ff9b0000000000000000c0000221", "64:ff9b::c000:221"],
    ["1:2:3:4:5:6:1.2.3.4", "00010002000300040005000601020304", "1:2:3:4:5:6:102:304"],
    ["::ffff:1:1.2.3.4", "0000000000000000ffff000101020304", "::ffff:1:102:304"],
  ];
  for (const [input, hex, canonical] of table) {
    it(`${input} -> ${canonical}`, () => {
      const b = ipv6ToBytes(input);
      assert.ok(b, "parses");
      assert.equal(b.toString("hex"), hex);
      assert.equal(ipv6FromBytes(b), canonical);
      // the canonical form parses back to the same bytes
      assert.equal(ipv6ToBytes(canonical)!.toString("hex"), hex);
    });
  }

  it("every canonical text of every single-group and two-group zero pattern round-trips", () => {
    // All 256 patterns of zero/non-zero groups: the canonical text parses back, and is itself canonical.
    for (let mask = 0; mask < 256; mask++) {
      const b = Buffer.alloc(16);
      for (let g = 0; g < 8; g++) if (mask & (1 << g)) b.writeUInt16BE(0x100 * (g + 1) + 0xa, g * 2);
      const text = ipv6FromBytes(b);
      assert.equal(ipv6ToBytes(text)!.toString("hex"), b.toString("hex"), text);
      assert.ok(!/::.*::/.test(text), text);
      // no run of two or more zero groups may be left uncompressed when "::" is absent
      if (!text.includes("::")) assert.ok(!/(^|:)0:0(:|$)/.test(text), text);
    }
  });

  it("invalid inputs give null", () => {
    for (const bad of [
      "",
      ":",
      ":::",
      "1::2::3",
      "12345::",
      "g::",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "::ffff:1.2.3.256",
      "::ffff:1.2.3",
      "1.2.3.4",
      "[::1]",
      " ::1",
      "::1 ",
      "fe80::1%eth0", // a zone cannot be carried in 16 bytes
      "fe80::1%1",
      "localhost",
    ]) {
      assert.equal(ipv6ToBytes(bad), null, JSON.stringify(bad));
    }
  });

  it("ipv4ToBytes", () => {
    assert.deepEqual(ipv4ToBytes("192.0.2.1"), Buffer.from([192, 0, 2, 1]));
    assert.deepEqual(ipv4ToBytes("0.0.0.0"), Buffer.from([0, 0, 0, 0]));
    assert.deepEqual(ipv4ToBytes("255.255.255.255"), Buffer.from([255, 255, 255, 255]));
    for (const bad of ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "::1", "a.b.c.d"]) assert.equal(ipv4ToBytes(bad), null, bad);
  });
});

describe("isPrivateOrLocal", () => {
  const table: Array<[string, boolean]> = [
    ["0.0.0.0", true],
    ["10.0.0.1", true],
    ["10.255.255.255", true],
    ["11.0.0.1", false],
    ["127.0.0.1", true],
    ["127.255.0.9", true],
    ["169.254.1.1", true],
    ["169.253.1.1", false],
    ["172.15.255.255", false],
    ["172.16.0.1", true],
    ["172.31.255.255", true],
    ["172.32.0.1", false],
    ["192.168.1.1", true],
    ["192.169.1.1", false],
    ["100.63.255.255", false],
    ["100.64.0.1", true], // CGNAT (RFC 6598)
    ["100.127.255.255", true],
    ["100.128.0.1", false],
    ["8.8.8.8", false],
    ["192.0.2.1", false],
    ["203.0.113.7", false],
    ["::", true],
    ["::1", true],
    ["0:0:0:0:0:0:0:1", true],
    ["::2", true], // IPv4-compatible ::0.0.0.2: reserved, never dialled for a peer,
    ["fc00::1", true],
    ["fd12:3456::1", true],
    ["fe00::1", false],
    ["fe80::1", true],
    ["febf::1", true],
    ["fec0::1", true], // deprecated site-local,
    ["2001:db8::1", false],
    ["2606:4700::1111", false],
    ["::ffff:10.1.2.3", true],
    ["::ffff:192.168.0.1", true],
    ["::ffff:8.8.8.8", false],
    ["::ffff:7f00:1", true],
    ["not an ip", false],
    ["", false],
  ];
  for (const [ip, expected] of table) {
    it(`${JSON.stringify(ip)} -> ${expected}`, () => assert.equal(isPrivateOrLocal(ip), expected));
  }
});

describe("isLoopback", () => {
  const table: Array<[string, boolean]> = [
    ["127.0.0.1", true],
    ["127.1.2.3", true],
    ["128.0.0.1", false],
    ["10.0.0.1", false],
    ["::1", true],
    ["0:0:0:0:0:0:0:1", true],
    ["::ffff:127.0.0.1", true], // how Node reports a v4 loopback peer on a dual-stack socket
    ["::", false],
    ["::2", false],
    ["fe80::1", false],
    ["::ffff:10.0.0.1", false],
    ["127.0.0.1.evil.example", false],
    ["localhost", false],
    ["", false],
  ];
  for (const [ip, expected] of table) {
    it(`${JSON.stringify(ip)} -> ${expected}`, () => assert.equal(isLoopback(ip), expected));
  }
});

describe("classifyIp: one classifier for the dial policy and broker URLs", () => {
  const table: Array<[string, string]> = [
    ["203.0.113.7", "public"], // documentation ranges are the lab's internet
    ["198.51.100.1", "public"],
    ["8.8.8.8", "public"],
    ["10.0.0.5", "private"],
    ["100.64.1.1", "private"],
    ["172.31.0.1", "private"],
    ["192.168.1.1", "private"],
    ["127.0.0.1", "loopback"],
    ["169.254.169.254", "link-local"],
    ["0.0.0.0", "unspecified"],
    ["192.0.0.8", "reserved"],
    ["198.18.0.1", "reserved"],
    ["198.19.255.255", "reserved"],
    ["240.0.0.1", "reserved"],
    ["255.255.255.255", "reserved"],
    ["224.0.0.1", "multicast"],
    ["::", "unspecified"],
    ["::1", "loopback"],
    ["::ffff:10.0.0.5", "private"],
    ["::ffff:203.0.113.7", "public"],
    ["::10.0.0.5", "reserved"], // deprecated IPv4-compatible
    ["::ffff:0:127.0.0.1", "reserved"], // IPv4-translated (SIIT): was "public"
    ["::ffff:0:10.0.0.5", "reserved"],
    ["64:ff9b::10.0.0.5", "reserved"], // NAT64
    ["64:ff9b::8.8.8.8", "reserved"],
    ["2002:0a00:0005::1", "private"], // 6to4 around 10.0.0.5
    ["2002:7f00:0001::1", "loopback"], // 6to4 around 127.0.0.1
    ["2002:cb00:7107::1", "public"], // 6to4 around 203.0.113.7
    ["2001:0:4136:e378::1", "reserved"], // Teredo
    ["fd00::1", "private"],
    ["fe80::1", "link-local"],
    ["ff02::1", "multicast"],
    ["2001:db8::1", "public"],
    ["fe80::1%eth0", "invalid"],
    ["not an ip", "invalid"],
  ];
  for (const [ip, want] of table) it(`${ip} is ${want}`, () => assert.equal(classifyIp(ip), want));
});
