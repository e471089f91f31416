// NAT lab self-test: every router kind measured against its definition (RFC 4787 /
// RFC 5382), over UDP and TCP, cross-checked with coturn's turnutils_natdiscovery;
// plus hairpinning, UDP blocking and double NAT. One lab, NAT kinds switched live.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Lab, NAT_KINDS, PUBLIC_HOSTS, withLabLogs } from "./lab.ts";
import { assertNatKind, measureNat, natdiscoveryExpect } from "./nat-check.ts";
import { labSkipReason } from "./require-lab.ts";

const skip = labSkipReason();

describe("NAT lab", { skip: skip ?? false }, () => {
  let lab: Lab;
  const withLogs = withLabLogs(() => lab);

  before(async () => {
    lab = await Lab.up({ a: "port-restricted", b: "port-restricted" });
    process.stdout.write(`# lab build: ${lab.buildMs} ms\n`);
    await Promise.all([lab.startReflector(), lab.startCoturn()]);
  });
  after(async () => {
    await lab?.down();
    if (lab) process.stdout.write(`# lab teardown: ${lab.downMs} ms\n`);
  });

  for (const kind of NAT_KINDS) {
    test(`${kind}: mapping and filtering over UDP and TCP`, withLogs(async () => {
      await lab.setNat("a", kind);
      assert.equal(lab.natOf("a"), kind);
      const expectIp = kind === "open" || kind === "firewall" ? lab.ip("a1") : lab.publicIp("a");
      // Cross-check with coturn's own RFC 5780 client against the lab coturn (in parallel: it waits out its timeouts).
      const [udp, tcp, nd] = await Promise.all([
        measureNat(lab, "a1", "udp"),
        measureNat(lab, "a1", "tcp"),
        lab.exec("a1", ["turnutils_natdiscovery", "-m", "-f", PUBLIC_HOSTS.srv.ips[0]], { timeoutMs: 30_000 }),
      ]);
      assertNatKind(kind, udp, expectIp);
      assertNatKind(kind, tcp, expectIp);
      const want = natdiscoveryExpect(kind);
      assert.match(nd.stdout, want.mapping, `natdiscovery mapping for ${kind}:\n${nd.stdout}`);
      assert.match(nd.stdout, want.filtering, `natdiscovery filtering for ${kind}:\n${nd.stdout}`);
    }));
  }

  for (const proto of ["udp", "tcp"] as const) {
    test(`hairpinning on and off (${proto})`, withLogs(async () => {
      for (const hairpin of [true, false]) {
        await lab.setNat("a", "port-restricted", { hairpin });
        const a2 = lab.spawn("a2", "/usr/bin/python3", [new URL("./probe.py", import.meta.url).pathname, "listen", "--proto", proto, "--srv", PUBLIC_HOSTS.srv.ips[0], "--hold", "2"]);
        const first = JSON.parse(await a2.waitForLine(/"mapped"/)) as { mapped: string };
        assert.equal(first.mapped.split(":")[0], lab.publicIp("a"));
        const sent = await lab.probe<{ connected?: boolean }>("a1", ["send", "--proto", proto, "--to", first.mapped, "--message", "hairpin", "--timeout", "1"]);
        await a2.exited;
        const recv = a2.json<{ recv?: string; from?: string }>().filter((x) => x.recv !== undefined);
        if (hairpin) {
          assert.ok(recv.length > 0, `a2 got a1's packet through the hairpin: ${a2.log()}`);
          // The LAN peer sees a1's public side, not its LAN address.
          assert.equal(recv[0]?.from?.split(":")[0], lab.publicIp("a"));
          if (proto === "tcp") assert.equal(sent.connected, true);
        } else {
          assert.equal(recv.length, 0, `no hairpin: a2 must get nothing: ${a2.log()}`);
          if (proto === "tcp") assert.equal(sent.connected, false);
        }
      }
    }));
  }

  test("a router that blocks all UDP still passes TCP", withLogs(async () => {
    await lab.setNat("a", "port-restricted", { blockUdp: true });
    const udp = await measureNat(lab, "a1", "udp");
    assert.deepEqual(udp.mapped, [null, null, null, null], "no UDP gets out");
    const tcp = await measureNat(lab, "a1", "tcp");
    assert.ok(tcp.mapped.every((m) => m?.startsWith(`${lab.publicIp("a")}:`)), JSON.stringify(tcp));
    await lab.setNat("a", "port-restricted");
    assert.ok((await measureNat(lab, "a1", "udp")).mapped.every((m) => m !== null), "UDP is back after unblocking");
  }));

  test("double NAT: site c behind its router and a CGNAT (100.64.0.0/10)", withLogs(async () => {
    await lab.setNat("c", "port-restricted");
    await lab.setNat("cgn", "port-restricted");
    assertNatKind("port-restricted", await measureNat(lab, "c1", "udp"), lab.publicIp("c"));
    // The inner router's own view: its wan is in the CGNAT range and it NATs c1 to it.
    const ct = await lab.exec("rc", "conntrack -L -p udp 2>/dev/null");
    assert.match(ct.stdout, new RegExp(`src=${lab.lanIp("c1").replace(/\./g, "\\.")} .* dst=100\\.64\\.3\\.2 `), ct.stdout);
    // A symmetric CGNAT makes the whole path symmetric although the home router is a cone.
    await lab.setNat("cgn", "symmetric-random");
    assertNatKind("symmetric-random", await measureNat(lab, "c1", "udp"), lab.publicIp("c"));
    await lab.setNat("cgn", "port-restricted");
  }));

  test("public hosts: pub1 is reachable unsolicited, pubfw drops unsolicited inbound", withLogs(async () => {
    const srv = lab.spawn("pub1", "/usr/bin/python3", ["-c", "import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('0.0.0.0',4100));s.listen();print('up',flush=True);c,_=s.accept();c.sendall(b'hi');c.close()"]);
    await srv.waitForLine(/up/);
    const ok = await lab.probe<{ connected: boolean }>("pubfw", ["send", "--proto", "tcp", "--to", `${lab.ip("pub1")}:4100`]);
    assert.equal(ok.connected, true, "pubfw can connect out through its firewall");
    const fwsrv = lab.spawn("pubfw", "/usr/bin/python3", ["-c", "import socket,time;s=socket.socket();s.bind(('0.0.0.0',4101));s.listen();print('up',flush=True);time.sleep(3)"]);
    await fwsrv.waitForLine(/up/);
    const blocked = await lab.probe<{ connected: boolean; error?: string }>("pub1", ["send", "--proto", "tcp", "--to", `${lab.ip("pubfw")}:4101`, "--timeout", "1"]);
    assert.equal(blocked.connected, false);
    assert.equal(blocked.error, "TimeoutError", "dropped, not rejected");
    await fwsrv.kill();
  }));
});
