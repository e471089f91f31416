// Port mapping (src/portmap) against a real miniupnpd on site a's router, from a1:
// UPnP IGD v2 (through @achingbrain/nat-port-mapper), IGD v1 (our SOAP), NAT-PMP and PCP
// (our packets). Each mapping must be verified by our STUN server's dial-port, reachable
// from pub1 on the lab internet, and gone after close(); with no gateway answering the
// call resolves "none" within its timeout.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { Lab, PUBLIC_HOSTS, type LabProcess, withLabLogs } from "./lab.ts";
import { labSkipReason } from "./require-lab.ts";

const skip = labSkipReason();
const CLI = fileURLToPath(new URL("../../bin/p2pnode.js", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURE = fileURLToPath(new URL("./fixtures/portmap-fixture.ts", import.meta.url));
const SRV1 = PUBLIC_HOSTS.srv.ips[0];
const STUN_PORT = 5480;

type Mapped = { event: "mapped"; method: string; externalIp: string; externalPort: number; internalPort: number; leaseSeconds: number; verified: boolean; elapsedMs: number };
type Result = Mapped | { event: "none"; ms: number } | { event: "error"; code: string; message: string };

describe("port mapping against miniupnpd", { skip: skip ?? false }, () => {
  let lab: Lab;
  let igdRunning: 1 | 2 | undefined;
  const timings: Record<string, number> = {};
  const withLogs = withLabLogs(() => lab);
  const fixture = (cfg: object): LabProcess =>
    lab.spawn("a1", process.execPath, ["--import", "tsx", "--import", `${ROOT}test/support/guard.ts`, FIXTURE, JSON.stringify({ stun: `${SRV1}:${STUN_PORT}`, ...cfg })]);
  const result = async (p: LabProcess): Promise<Result> => JSON.parse(await p.waitForLine(/^\{"event":"(mapped|none|error)"/, 20_000)) as Result;
  const upnpRules = async () => (await lab.exec(lab.routerOf("a"), ["nft", "list", "table", "inet", "p2pn_upnp"])).stdout;
  const fromPub1 = (ip: string, port: number) => lab.probe<{ connected: boolean; reply?: string }>("pub1", ["send", "--proto", "tcp", "--to", `${ip}:${port}`, "--message", "hi", "--timeout", "1.5"]);
  async function useIgd(igd: 1 | 2): Promise<void> {
    if (igdRunning === igd) return;
    await lab.stopMiniupnpd("a");
    await lab.startMiniupnpd("a", { igd });
    igdRunning = igd;
  }

  before(async () => {
    lab = await Lab.up({ a: "port-restricted" });
    const stun = lab.spawn("srv", process.execPath, [CLI, "stun", "--host", SRV1, "--port", String(STUN_PORT), "--json"]);
    await stun.waitForLine(/"ready"/, 15_000);
  });
  after(async () => {
    process.stderr.write(`# port mapping: ms to obtain a mapping from a1 (discovery included, verification excluded): ${JSON.stringify(timings)}\n`);
    await lab?.down();
  });

  const cases = [
    { name: "UPnP IGD v2 (nat-port-mapper AddAnyPortMapping)", igd: 2, protocols: ["upnp"], method: "upnp-igd2" },
    { name: "UPnP IGD v1 (our AddPortMapping; the library refuses v1)", igd: 1, protocols: ["upnp"], method: "upnp-igd1" },
    { name: "NAT-PMP (our packets, lease in seconds)", igd: 1, protocols: ["nat-pmp"], method: "nat-pmp" },
    { name: "PCP", igd: 2, protocols: ["pcp"], method: "pcp" },
    { name: "default order (PCP first)", igd: 2, protocols: undefined, method: "pcp" },
  ] as const;

  for (const c of cases) {
    test(`${c.name}: mapped, verified, reachable from pub1, gone after close()`, withLogs(async () => {
      await useIgd(c.igd);
      const p = fixture({ protocols: c.protocols, leaseSeconds: 600 });
      const r = await result(p);
      assert.equal(r.event, "mapped", JSON.stringify(r));
      const m = r as Mapped;
      timings[c.method + (c.protocols ? "" : " (default)")] = m.elapsedMs;
      assert.equal(m.method, c.method);
      assert.equal(m.externalIp, lab.publicIp("a"));
      assert.ok(m.leaseSeconds > 0, "finite lease");
      assert.equal(m.verified, true, "our STUN server's dial-back reached the listener");
      if (c.method.startsWith("upnp")) assert.match(await upnpRules(), new RegExp(`dport ${m.externalPort}\\b`));

      // A host on the lab internet reaches a1's listener through the mapping.
      const via = await fromPub1(m.externalIp, m.externalPort);
      assert.deepEqual(via, { connected: true, reply: "hello-from-a1\n" });
      await p.waitForLine(new RegExp(`"from":"(::ffff:)?${PUBLIC_HOSTS.pub1.ips[0].replace(/\./g, "\\.")}"`));

      // close(): the external port is removed from the router, and the process exits by itself.
      process.kill(p.pid, "SIGTERM");
      await p.waitForLine(/"event":"closed"/, 10_000);
      const exit = await Promise.race([p.exited, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
      assert.deepEqual(exit, { code: 0, signal: null }, "no socket or timer keeps the process alive after close()");
      assert.doesNotMatch(await upnpRules(), new RegExp(`dport ${m.externalPort}\\b`), "the router's forwarding rule is gone");
      const gone = await fromPub1(m.externalIp, m.externalPort);
      assert.equal(gone.connected, false, "no connection after close()");
    }));
  }

  test("no gateway answering (miniupnpd stopped): resolves with no mapping within the timeout", withLogs(async () => {
    await lab.stopMiniupnpd("a");
    igdRunning = undefined;
    const p = fixture({ timeout: 1500 });
    const r = await result(p);
    assert.equal(r.event, "none", JSON.stringify(r));
    assert.ok((r as { ms: number }).ms < 1500 + 500, `bounded: ${(r as { ms: number }).ms} ms`);
    timings["none (timeout 1500)"] = (r as { ms: number }).ms;
    process.kill(p.pid, "SIGTERM");
    await p.waitForLine(/"event":"closed"/, 5000);
    assert.deepEqual(await p.exited, { code: 0, signal: null });
  }));
});
