import assert from "node:assert/strict";
import dgram from "node:dgram";
import { test } from "node:test";
import type { NodeAddress } from "../../src/identity/address.ts";
import { addr } from "./address-fixture.ts";
import { discoveryForPlan, planNeedsDiscovery } from "../../src/connect/discovery-wait.ts";
import { startNode } from "../../src/node.ts";

test("only a plan whose lead reads our NAT type waits for discovery", () => {
  const undiscovered = addr({ priv: "10.77.1.11" }); // our address before discovery
  const table: Array<[string, NodeAddress, boolean]> = [
    ["a public, open peer: direct first, whatever our NAT", addr({ pub: "203.0.113.20", nat: "open" }), false],
    ["a peer with a verified port mapping", addr({ priv: "10.77.2.11", nat: "port-restricted", mapped: true }), false],
    ["a peer behind a NAT: reverse or punch depend on ours", addr({ priv: "10.77.2.11", pub: "203.0.113.102", nat: "port-restricted" }), true],
    ["a peer of unknown reachability", addr({ priv: "10.88.2.11" }), true],
  ];
  for (const [why, remote, want] of table) assert.equal(planNeedsDiscovery(undiscovered, remote), want, why);
});

test("discoveryForPlan: a reachable peer does not wait for natReady; a guarded one does", async () => {
  const order: string[] = [];
  let finish!: () => void;
  const nat = new Promise<void>((r) => (finish = r)).then(() => void order.push("nat"));
  const node = { address: addr({ priv: "10.77.1.11" }), natReady: () => nat, portMappingReady: () => Promise.resolve() };
  assert.equal(await discoveryForPlan(node, addr({ pub: "203.0.113.20", nat: "open" })), false);
  order.push("dial reachable");
  const guarded = discoveryForPlan(node, addr({ priv: "10.77.2.11", nat: "symmetric" })).then(() => void order.push("dial guarded"));
  finish();
  await guarded;
  assert.deepEqual(order, ["dial reachable", "nat", "dial guarded"]);
});

test("a node with discovery still running connects to a peer on this host before its NAT report", async () => {
  // A STUN server that never answers keeps discovery pending (until discoveryTimeout, far away).
  const silent = dgram.createSocket("udp4");
  await new Promise<void>((r) => silent.bind(0, "127.0.0.1", r));
  const stun = `stun:127.0.0.1:${silent.address().port}`;
  const a = await startNode({ host: "127.0.0.1", port: 0, stun: [stun], discoveryTimeout: 60_000, discoveryWait: 0, portMapping: false });
  const b = await startNode({ host: "127.0.0.1", port: 0 });
  try {
    const order: string[] = [];
    a.on("nat", () => order.push("nat"));
    assert.equal(await discoveryForPlan(a, b.address), false);
    const pipe = await a.connect(b.address, { strategies: ["direct"] });
    order.push("connected");
    assert.equal(a.nat, undefined, "discovery is still running");
    assert.deepEqual(order, ["connected"]);
    await pipe.destroy();
  } finally {
    await Promise.all([a.close(), b.close()]);
    silent.close();
  }
});
