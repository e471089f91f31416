// IPv6 pinholes (UPnP IGD v2 WANIPv6FirewallControl, PCP over IPv6) through miniupnpd on site a's router,
// whose ip6 firewall drops unsolicited inbound (RFC 6092): opened from a1, verified by our
// STUN server's dial-port over IPv6, reached from pub1 (2001:db8::20), renewed (UPnP
// UpdatePinhole), and gone after close() (rule removed, pub1 dropped again).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { Lab, PYTHON, V6_PLAN, withLabLogs } from "./lab.ts";
import { startMiniupnpd6, UPNP_TABLE, type Miniupnpd6 } from "./miniupnpd6.ts";
import { labSkipReason } from "./require-lab.ts";

const skip = labSkipReason();
const CLI = fileURLToPath(new URL("../../bin/p2pnode.js", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURE = fileURLToPath(new URL("./fixtures/pinhole-fixture.ts", import.meta.url));
const SRV6 = V6_PLAN.public.srv[0];
const A1 = V6_PLAN.sites.a.hosts.a1;
const A1_HEX = "20010db8000100000000000000000011"; // A1 written out, as nft prints it
const PORT = 7070;
const STUN_PORT = 5480;

describe("IPv6 pinholes through miniupnpd", { skip: skip ?? false }, () => {
  let lab: Lab;
  let upnp: Miniupnpd6;
  const withLogs = withLabLogs(() => lab);
  const rules = async () => (await lab.exec(lab.routerOf("a"), ["nft", "list", "chain", "inet", UPNP_TABLE, "upnp_forward"])).stdout;
  /** A TCP connect from pub1 to [a1]:PORT: "ok", or the Python exception name (TimeoutError = dropped). */
  const fromPub1 = async () => {
    const py = `import socket\ns = socket.socket(socket.AF_INET6); s.settimeout(1.5)\ntry:\n  s.connect(("${A1}", ${PORT})); print("ok:" + s.recv(64).decode().strip())\nexcept OSError as e:\n  print(type(e).__name__)`;
    return (await lab.exec("pub1", [PYTHON, "-c", py], { timeoutMs: 5000 })).stdout.trim();
  };

  before(async () => {
    lab = await Lab.up({ ipv6: true });
    const stun = lab.spawn("srv", process.execPath, [CLI, "stun", "--host", SRV6, "--port", String(STUN_PORT), "--json"]);
    await stun.waitForLine(/"ready"/, 15_000);
    upnp = await startMiniupnpd6(lab, "a");
  });
  after(() => lab?.down());

  const cases = [
    // Lease 4 s: UpdatePinhole runs at 2 s, inside the test.
    { via: "upnp", name: "UPnP IGD v2 WANIPv6FirewallControl (AddPinhole, UpdatePinhole, DeletePinhole)", method: "upnp-pinhole6", leaseSeconds: 4, renews: true },
    // miniupnpd grants PCP lifetimes of at least 120 s: no renewal inside the test.
    { via: "pcp", name: "PCP MAP over IPv6 (delete = lifetime 0, same nonce)", method: "pcp", leaseSeconds: 120, renews: false },
  ] as const;

  for (const c of cases) {
    test(`${c.name}: opened, verified from outside, reached from pub1; gone after close()`, withLogs(async () => {
      assert.equal(await fromPub1(), "TimeoutError", "before: the site's IPv6 firewall drops pub1's SYN");
      const cfg = { via: c.via, location: `http://[${upnp.gateway6}]:${upnp.httpPort}/rootDesc.xml`, gateway: upnp.gateway6, host: A1, port: PORT, stun: `${SRV6}:${STUN_PORT}`, leaseSeconds: c.leaseSeconds };
      const p = lab.spawn("a1", process.execPath, ["--import", "tsx", "--import", `${ROOT}test/support/guard.ts`, FIXTURE, JSON.stringify(cfg)]);
      const r = JSON.parse(await p.waitForLine(/^\{"event":"(opened|none|error)"/, 20_000)) as Record<string, unknown>;
      assert.equal(r.event, "opened", JSON.stringify(r));
      assert.equal(r.method, c.method);
      assert.deepEqual([r.externalIp, r.externalPort], [A1, PORT], "a pinhole: the host's own address and port");
      assert.ok((r.leaseSeconds as number) >= c.leaseSeconds, `finite lease ${r.leaseSeconds}`);
      assert.equal(r.verified, true, "our STUN server's dial-back over IPv6 reached the listener");
      process.stdout.write(`# ${c.via}: pinhole opened in ${r.elapsedMs} ms, lease ${r.leaseSeconds} s\n`);
      // miniupnpd writes it as raw payload matches in the inet table: daddr = @nh,192,128, next header = @nh,48,8.
      assert.match(await rules(), new RegExp(`iif "wan0" th dport ${PORT} @nh,192,128 0x${A1_HEX} @nh,48,8 0x6 accept`), "miniupnpd added the pinhole rule");

      assert.equal(await fromPub1(), "ok:hello-from-a1", "pub1 reaches a1 through the pinhole");
      await p.waitForLine(/"event":"accepted","from":"2001:db8::20"/);
      if (c.renews) {
        const renewed = JSON.parse(await p.waitForLine(/"event":"renewed"/, 10_000)) as Record<string, unknown>;
        assert.equal(renewed.changed, false, "the renewal kept the same pinhole");
        assert.equal(await fromPub1(), "ok:hello-from-a1", "still open after the renewal");
      }

      process.kill(p.pid, "SIGTERM");
      await p.waitForLine(/"event":"closed"/, 10_000);
      const exit = await Promise.race([p.exited, new Promise<null>((res) => setTimeout(() => res(null), 5000))]);
      assert.deepEqual(exit, { code: 0, signal: null }, "no socket or timer keeps the process alive after close()");
      assert.doesNotMatch(await rules(), new RegExp(`dport ${PORT}`), "the pinhole rule is gone");
      assert.equal(await fromPub1(), "TimeoutError", "after close: dropped again");
    }));
  }
});
