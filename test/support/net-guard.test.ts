import assert from "node:assert/strict";
import dgram from "node:dgram";
import dns from "node:dns";
import net from "node:net";
import { describe, it } from "node:test";
import { NetworkGuardError } from "../../src/errors.ts";
import { isAllowedTarget, netGuardMode, type GuardMode } from "./net-guard.ts";

// TEST-NET-1 (RFC 5737): must never actually be contacted.
const TEST_NET = "192.0.2.1";

/** Every live check starts here: without the guard, fail instead of sending. */
function requireGuard(): void {
  assert.equal(netGuardMode(), "loopback", "the network guard is not installed (run through test/run.js); refusing to try to reach TEST-NET");
}

describe("isAllowedTarget", () => {
  const table: Array<[string, { loopback: boolean; lab: boolean }]> = [
    ["127.0.0.1", { loopback: true, lab: true }],
    ["127.255.255.254", { loopback: true, lab: true }],
    ["localhost", { loopback: true, lab: true }],
    ["::1", { loopback: true, lab: true }],
    ["[::1]", { loopback: true, lab: true }],
    ["0:0:0:0:0:0:0:1", { loopback: true, lab: true }],
    ["::ffff:127.0.0.1", { loopback: true, lab: true }],
    ["128.0.0.1", { loopback: false, lab: false }],
    ["126.255.255.255", { loopback: false, lab: false }],
    ["0.0.0.0", { loopback: false, lab: false }],
    ["::", { loopback: false, lab: false }],
    [TEST_NET, { loopback: false, lab: false }],
    ["8.8.8.8", { loopback: false, lab: false }],
    ["10.0.0.1", { loopback: false, lab: false }],
    ["192.168.1.1", { loopback: false, lab: false }],
    ["198.51.100.7", { loopback: false, lab: true }],
    ["198.51.101.7", { loopback: false, lab: false }],
    ["203.0.113.0", { loopback: false, lab: true }],
    ["203.0.113.255", { loopback: false, lab: true }],
    ["239.255.255.250", { loopback: false, lab: true }], // SSDP, lab mode only
    ["239.255.255.251", { loopback: false, lab: false }],
    ["203.0.114.1", { loopback: false, lab: false }],
    ["100.64.0.1", { loopback: false, lab: true }],
    ["100.127.255.255", { loopback: false, lab: true }],
    ["100.63.255.255", { loopback: false, lab: false }],
    ["100.128.0.0", { loopback: false, lab: false }],
    ["10.77.0.1", { loopback: false, lab: true }],
    ["10.77.255.255", { loopback: false, lab: true }],
    ["10.78.0.1", { loopback: false, lab: false }],
    ["::ffff:198.51.100.1", { loopback: false, lab: true }],
    ["::ffff:8.8.8.8", { loopback: false, lab: false }],
    ["fd77::1", { loopback: false, lab: true }],
    ["FD77:1::2", { loopback: false, lab: true }],
    ["[fd77::1]", { loopback: false, lab: true }],
    ["fd78::1", { loopback: false, lab: false }],
    // The lab's IPv6 "internet" (RFC 3849 documentation prefix), any spelling; nothing next to it.
    ["2001:db8::1", { loopback: false, lab: true }],
    ["2001:0DB8:2::11", { loopback: false, lab: true }],
    ["[2001:db8:ffff::1]", { loopback: false, lab: true }],
    ["2001:db9::1", { loopback: false, lab: false }],
    ["2001:db80::1", { loopback: false, lab: false }],
    ["2001::db8", { loopback: false, lab: false }],
    ["2606:4700::1111", { loopback: false, lab: false }],
    ["example.com", { loopback: false, lab: false }],
    ["localhost.example.com", { loopback: false, lab: false }],
    ["", { loopback: false, lab: false }],
  ];
  for (const [host, want] of table) {
    it(`${JSON.stringify(host)}: loopback=${want.loopback} lab=${want.lab} off=true`, () => {
      for (const mode of ["loopback", "lab", "off"] as GuardMode[]) {
        assert.equal(isAllowedTarget(host, mode), mode === "off" ? true : want[mode as "loopback" | "lab"], mode);
      }
    });
  }
});

describe("the installed guard (mode loopback, from test/run.js)", () => {
  it("is installed in loopback mode", () => requireGuard());

  it("net.connect to TEST-NET throws NetworkGuardError synchronously (before any packet)", () => {
    requireGuard();
    const forms: Array<[string, () => unknown]> = [
      ["net.connect(options)", () => net.connect({ host: TEST_NET, port: 9 })],
      ["net.connect(port, host)", () => net.connect(9, TEST_NET)],
      ["net.createConnection(options)", () => net.createConnection({ host: TEST_NET, port: 9 })],
      ["socket.connect(options)", () => new net.Socket().connect({ host: TEST_NET, port: 9 })],
      ["socket.connect(port, host)", () => new net.Socket().connect(9, TEST_NET)],
      ["IPv6", () => net.connect({ host: "2001:db8::1", port: 9 })],
      ["hostname", () => net.connect({ host: "example.com", port: 80 })],
    ];
    for (const [label, fn] of forms) {
      assert.throws(fn, (e: unknown) => e instanceof NetworkGuardError && e.code === "P2P_ERR_NETWORK_GUARD" && /refusing a TCP connection/.test(e.message), label);
    }
  });

  it("loopback connections still work", async () => {
    requireGuard();
    const server = net.createServer((s) => s.end("ok"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    const c = net.connect({ host: "127.0.0.1", port });
    const got = await new Promise<string>((r, j) => {
      let text = "";
      c.on("data", (d) => (text += d)).on("end", () => r(text)).on("error", j);
    });
    assert.equal(got, "ok");
    c.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("dgram send/connect to TEST-NET throws NetworkGuardError", () => {
    requireGuard();
    const sock = dgram.createSocket("udp4");
    try {
      assert.throws(() => sock.send(Buffer.from("x"), 9, TEST_NET), NetworkGuardError);
      assert.throws(() => sock.send(Buffer.from("xyz"), 0, 1, 9, TEST_NET), NetworkGuardError);
      assert.throws(() => sock.send(Buffer.from("x"), 9, "example.com"), NetworkGuardError);
      assert.throws(() => sock.connect(9, TEST_NET), NetworkGuardError);
    } finally {
      sock.close();
    }
  });

  it("dns.lookup throws and dns.promises.lookup rejects for a hostname", async () => {
    requireGuard();
    let called = false;
    assert.throws(() => dns.lookup("example.com", () => (called = true)), NetworkGuardError);
    await assert.rejects(dns.promises.lookup("example.com"), NetworkGuardError);
    assert.equal(called, false);
    // IP literals need no DNS and stay allowed
    const ip = await dns.promises.lookup("127.0.0.1");
    assert.equal(ip.address, "127.0.0.1");
  });

  it("dns.resolve* / reverse / Resolver (which query DNS servers directly) are refused", async () => {
    requireGuard();
    // Should the guard fail, any query goes to a loopback port nobody answers, never outside.
    dns.setServers(["127.0.0.1:9"]);
    dns.promises.setServers(["127.0.0.1:9"]);
    const r = new dns.Resolver();
    r.setServers(["127.0.0.1:9"]);
    const pr = new dns.promises.Resolver();
    pr.setServers(["127.0.0.1:9"]);
    assert.throws(() => dns.resolve4("example.com", () => {}), NetworkGuardError);
    assert.throws(() => dns.resolve("example.com", "TXT", () => {}), NetworkGuardError);
    assert.throws(() => dns.reverse("8.8.8.8", () => {}), NetworkGuardError);
    assert.throws(() => r.resolve6("example.com", () => {}), NetworkGuardError);
    await assert.rejects(dns.promises.resolveTxt("example.com"), NetworkGuardError);
    await assert.rejects(pr.resolve4("example.com"), NetworkGuardError);
  });
});
