/**
 * A node behind a port-restricted NAT whose router runs miniupnpd maps its
 * port, verifies the mapping through our STUN server, publishes it, and a host
 * on the lab internet reaches it directly through the mapping (issues 4 and 5).
 * After the node closes, the mapping is gone from the router.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Lab, PUBLIC_HOSTS, withLabLogs } from "./lab.ts";
import type { LabProcess } from "./procs.ts";
import { labSkipReason } from "./require-lab.ts";

const skip = labSkipReason();
const CLI = new URL("../../bin/p2pnode.js", import.meta.url).pathname;
const [SRV1, SRV2] = PUBLIC_HOSTS.srv.ips;
const STUN = `stun:${SRV1}:5478`;

interface Ready {
  addr: string;
  address: { interfaces: Array<{ mappedPort?: number; mappedVerified?: boolean; v4: { public: string[] } }> };
  portMapping: { method: string; externalIp: string; externalPort: number; verified: boolean } | null;
}

describe("a node maps its port on a miniupnpd router and is reached through it", { skip: skip ?? false }, () => {
  let lab: Lab;
  let broker: string;
  const procs: LabProcess[] = [];
  const withLogs = withLabLogs(() => lab, () => procs.map((p) => p.log()).join("\n"));
  const rules = async () => (await lab.exec(lab.routerOf("a"), ["nft", "list", "table", "inet", "p2pn_upnp"])).stdout;

  before(async () => {
    lab = await Lab.up({ a: "port-restricted" });
    broker = (await lab.startMosquitto()).url;
    const stun = lab.spawn("srv", process.execPath, [CLI, "stun", "--host", SRV1, "--port", "5478", "--alt-host", SRV2, "--alt-port", "5479", "--json"]);
    await stun.waitForLine(/"event":"ready"/, 15_000);
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await lab?.down();
  });

  for (const igd of [2, 1] as const) {
    test(`miniupnpd as IGD v${igd} (PCP and NAT-PMP too; the node tries PCP first): mapped, verified, published, reached by direct; gone after close`, withLogs(async () => {
      await lab.startMiniupnpd("a", { igd });
      try {
        const node = lab.spawn("a1", process.execPath, [CLI, "listen", "--echo", "--json", "--stun", STUN, "--signal", broker]);
        procs.push(node);
        const ready = JSON.parse(await node.waitForLine(/"event":"ready"/, 20_000)) as Ready;
        const m = ready.portMapping;
        assert.ok(m, "the node got a port mapping");
        assert.equal(m.verified, true, "verified by an inbound connection from our STUN server");
        assert.equal(m.externalIp, lab.publicIp("a"));
        const itf = ready.address.interfaces.find((i) => i.mappedPort);
        assert.equal(itf?.mappedPort, m.externalPort, "published in the address");
        assert.equal(itf?.mappedVerified, true);
        assert.match(await rules(), new RegExp(`dport ${m.externalPort}\\b`), "the router forwards the port");

        const r = await lab.exec("pub1", [process.execPath, CLI, "connect", ready.addr, "--send", "through the mapping", "--json", "--stun", STUN, "--signal", broker], { timeoutMs: 30_000 });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
        const connected = events.find((e) => e.event === "connected");
        assert.equal(connected?.strategy, "direct");
        assert.equal(connected?.remoteAddress, m.externalIp, "dialled the router's public address");
        assert.deepEqual(events.find((e) => e.event === "message"), { event: "message", data: "through the mapping" });
        process.stdout.write(`# IGD v${igd}: mapping by ${m.method}; connected through it in ${connected?.ms} ms\n`);

        await node.kill(); // SIGTERM: the node closes, deleting its mapping
        assert.doesNotMatch(await rules(), new RegExp(`dport ${m.externalPort}\\b`), "the mapping is gone after close()");
      } finally {
        await lab.stopMiniupnpd("a");
      }
    }));
  }
});
