/**
 * IPv6 in the NAT lab (issue 15, first slice): `Lab.up({ ipv6: true })` makes the wan,
 * srv/pub1/pubfw and sites a and b dual stack (2001:db8::/32), each site's /64 behind
 * its router's RFC 6092 stateful firewall. IPv4 stays behind symmetric NATs with random
 * ports on both sites, so nothing but IPv6 can carry a direct or punched connection:
 *
 * - the lab itself: an open IPv6 host accepts, a firewalled one drops unsolicited SYNs;
 * - direct over IPv6 to the open host (pub1), and a clean typed failure within the
 *   deadline to a firewalled one (b1);
 * - punch over IPv6 through two stateful firewalls (a1 × b1): TCP simultaneous open on
 *   the hosts' own ports, the pipe's remote address is b1's IPv6 address.
 *
 * Signaling runs over IPv6 (a mosquitto listening on srv's IPv6 address); STUN (for
 * discovery and the punch ports) stays on IPv4: IPv6 discovery is not in this slice.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Lab, PUBLIC_HOSTS, PYTHON, V6_PLAN, withLabLogs } from "./lab.ts";
import type { LabProcess } from "./procs.ts";
import { labSkipReason } from "./require-lab.ts";

const skip = labSkipReason();
const CLI = new URL("../../bin/p2pnode.js", import.meta.url).pathname;
const NODE = new URL("./ipv6-node.ts", import.meta.url).pathname;
const [SRV1, SRV2] = PUBLIC_HOSTS.srv.ips;
const STUN = `stun:${SRV1}:5478`;
/** connect() budget in the failing case, and the slack a clean failure may add (process, teardown). */
const CONNECT_MS = 8000;
const SLACK_MS = 1500;

const times: string[] = [];

describe("IPv6 in the lab: direct and punch through stateful IPv6 firewalls", { skip: skip ?? false }, () => {
  let lab: Lab;
  let broker: string;
  const withLogs = withLabLogs(() => lab);

  /** Plain TCP connect over IPv6 from `host` (python, no library): "ok" or the error's name. */
  async function tcp(host: string, ip: string, port: number): Promise<string> {
    const code = `import socket\ntry:\n  socket.create_connection(("${ip}", ${port}), 2).close(); print("ok")\nexcept Exception as e: print(type(e).__name__)`;
    return (await lab.exec(host, [PYTHON, "-c", code], { timeoutMs: 5000 })).stdout.trim();
  }

  async function listener(host: string): Promise<{ proc: LabProcess; addr: string; v6: string[] }> {
    const proc = lab.spawn(host, process.execPath, ["--import", "tsx", NODE, "listen", STUN, broker]);
    const ready = JSON.parse(await proc.waitForLine(/"event":"ready"/, 20_000)) as { addr: string; v6: string[] };
    return { proc, ...ready };
  }

  async function connect(host: string, addr: string, strategies: string, timeout = 15_000): Promise<Record<string, unknown>> {
    const r = await lab.exec(host, [process.execPath, "--import", "tsx", NODE, "connect", STUN, broker, addr, strategies, String(timeout)], { timeoutMs: timeout + 20_000 });
    const events = r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(events.some((e) => e.event === "done"), `connect in ${host} did not finish (${r.code}):\n${r.stdout}\n${r.stderr}`);
    return events.find((e) => e.event === "connected" || e.event === "failed") as Record<string, unknown>;
  }

  before(async () => {
    lab = await Lab.up({ ipv6: true, delayMs: 20, a: "symmetric-random", b: "symmetric-random" });
    broker = (await lab.startMosquitto6()).url;
    const stun = lab.spawn("srv", process.execPath, [CLI, "stun", "--host", SRV1, "--port", "5478", "--alt-host", SRV2, "--alt-port", "5479", "--json"]);
    await stun.waitForLine(/"event":"ready"/, 15_000);
  });

  after(async () => {
    await lab?.down();
    if (times.length) {
      process.stdout.write("# IPv6 cases (20 ms one-way per site wan link; IPv4 symmetric-random on both sites)\n");
      for (const t of times) process.stdout.write(`# ${t}\n`);
    }
  });

  test("lab: the open IPv6 host accepts, stateful IPv6 firewalls drop unsolicited SYNs, outbound passes", withLogs(async () => {
    const listen = `import socket\ns = socket.socket(socket.AF_INET6); s.bind(("::", 7000)); s.listen()\nprint("listening", flush=True)\nwhile True: s.accept()[0].close()`;
    await Promise.all(["pub1", "pubfw", "b1", "a1"].map((h) => lab.spawn(h, PYTHON, ["-c", listen]).waitForLine(/listening/)));
    assert.equal(await tcp("a1", lab.ip6("pub1"), 7000), "ok", "a1 → open host pub1");
    assert.equal(await tcp("a1", lab.ip6("pubfw"), 7000), "TimeoutError", "a1 → pubfw (own firewall): dropped");
    assert.equal(await tcp("pub1", lab.ip6("b1"), 7000), "TimeoutError", "pub1 → b1 (site firewall): dropped, not refused");
    assert.equal(await tcp("a1", lab.ip6("b1"), 7000), "TimeoutError", "a1 → b1: both firewalls, unsolicited");
    await lab.setFirewall6("b", "open");
    try {
      assert.equal(await tcp("pub1", lab.ip6("b1"), 7000), "ok", "pub1 → b1 with site b's IPv6 open");
    } finally {
      await lab.setFirewall6("b", "firewall");
    }
    assert.equal(lab.firewall6Of("b"), "firewall");
  }));

  test("direct over IPv6 to the open IPv6 host (pub1)", withLogs(async () => {
    const l = await listener("pub1");
    try {
      assert.ok(l.v6.includes(V6_PLAN.public.pub1[0]), `pub1 publishes its IPv6 address: ${l.v6}`);
      const r = await connect("a1", l.addr, "direct");
      times.push(`a1 (IPv6 firewall) → pub1 (open) | direct | ${r.event} ${r.ms} ms via ${r.remoteAddress}`);
      assert.equal(r.event, "connected", String(r.error));
      assert.equal(r.strategy, "direct");
      assert.equal(r.echo, "hi");
      assert.equal(r.remoteAddress, V6_PLAN.public.pub1[0], "the pipe runs over IPv6");
    } finally {
      await l.proc.kill();
    }
  }));

  test("direct to a host behind a stateful IPv6 firewall (b1) fails, typed, within its deadline", withLogs(async () => {
    const l = await listener("b1");
    try {
      const r = await connect("a1", l.addr, "direct", CONNECT_MS);
      times.push(`a1 → b1 (IPv6 firewall) | direct | ${r.event} in ${r.ms} ms: ${r.code} (${String(r.error).slice(0, 400)})`);
      assert.equal(r.event, "failed");
      assert.match(String(r.code), /^P2P_ERR_/, `a typed error: ${JSON.stringify(r)}`);
      assert.ok(String(r.error).includes(V6_PLAN.sites.b.hosts.b1), `the IPv6 endpoint was tried: ${r.error}`);
      assert.ok((r.ms as number) <= CONNECT_MS + SLACK_MS, `failed in ${r.ms} ms`);
    } finally {
      await l.proc.kill();
    }
  }));

  test("punch over IPv6 through two stateful IPv6 firewalls (a1 × b1)", withLogs(async () => {
    const l = await listener("b1");
    try {
      const r = await connect("a1", l.addr, "punch");
      times.push(`a1 × b1 (both IPv6 firewalls) | punch | ${r.event} ${r.ms} ms (SYN → open ${r.synToOpenMs} ms, ${r.target}) via ${r.remoteAddress}`);
      assert.equal(r.event, "connected", String(r.error));
      assert.equal(r.strategy, "punch");
      assert.equal(r.echo, "hi");
      assert.equal(r.remoteAddress, V6_PLAN.sites.b.hosts.b1, "the punched pipe runs over IPv6");
      assert.match(String(r.target), /^ipv6 2001:db8:2::11:\d+$/);
      const pipe = JSON.parse(await l.proc.waitForLine(/"event":"pipe"/, 5000)) as { strategy: string; remoteAddress: string };
      assert.equal(pipe.strategy, "punch");
      assert.equal(pipe.remoteAddress, V6_PLAN.sites.a.hosts.a1, "b1's side of the pipe is IPv6 too");
    } finally {
      await l.proc.kill();
    }
  }));

  test("the ranked plan connects a1 × b1 (firewalled IPv6 both sides)", withLogs(async () => {
    const l = await listener("b1");
    try {
      const r = await connect("a1", l.addr, "auto", 20_000);
      times.push(`a1 × b1 (both IPv6 firewalls) | auto | ${r.event} ${r.ms} ms by ${r.strategy} via ${r.remoteAddress} (tried ${JSON.stringify(r.tried)})`);
      assert.equal(r.event, "connected", String(r.error));
      assert.equal(r.strategy, "punch");
      assert.equal(r.remoteAddress, V6_PLAN.sites.b.hosts.b1);
    } finally {
      await l.proc.kill();
    }
  }));
});
