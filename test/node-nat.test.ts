import assert from "node:assert/strict";
import dgram from "node:dgram";
import { after, test } from "node:test";
import { parseAddress } from "../src/identity/address.ts";
import { summarize } from "../src/nat/summary.ts";
import { StunServer } from "../src/stun/server.ts";
import { FakeTime } from "../src/util/clock.ts";
import { loopbackNode } from "./support/nodes.ts";

const servers: StunServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

test("with STUN servers, the node discovers its NAT at start and publishes it in its address", async () => {
  const stun = await StunServer.listen({ host: "127.0.0.1", port: 0, altHost: "127.0.0.2", altPort: 0 });
  servers.push(stun);
  const uri = `stun:127.0.0.1:${stun.addresses.primary.port}`;
  // The node's clock is fake (discovery's sockets are real): every signing happens at `start`.
  const start = Date.now();
  const time = new FakeTime(start);
  const node = await loopbackNode({ stun: [uri], discoveryWait: 3000, clock: time, timers: time });
  assert.ok(node.nat, "discovery finished within startNode's wait");
  // Loopback has no NAT: endpoint-independent mapping and filtering, ports preserved.
  assert.equal(node.nat!.udp?.natType, "open");
  assert.equal(node.nat!.tcp?.mapping, "endpoint-independent");
  const itf = parseAddress(node.addr).interfaces[0];
  assert.equal(itf.nat.udp.type, "open");
  assert.equal(itf.nat.udp.mapping, "endpoint-independent");
  assert.equal(itf.nat.udp.filtering, "endpoint-independent");
  assert.equal(itf.nat.tcp.mapping, "endpoint-independent");
  // seq is ms since the epoch, above every earlier one: the re-signed address is newer after a restart too.
  // seq is the clock's ms, and rises by one when re-signed within the same ms: signed at start,
  // then once more with the report (so an address signed after a restart is newer too).
  assert.equal(node.address.seq, start + 1, "signed at start, re-signed once with the report");
});

test("a STUN server that never answers does not hold up startNode beyond discoveryWait", async (t) => {
  const silent = dgram.createSocket("udp4");
  t.after(() => silent.close()); // also when an assertion fails: an open socket keeps the file's process alive
  await new Promise<void>((r) => silent.bind(0, "127.0.0.1", r));
  const port = (silent.address() as { port: number }).port;
  const node = await loopbackNode({ stun: [`stun:127.0.0.1:${port}`], discoveryWait: 300, discoveryTimeout: 1500 });
  // Discovery cannot end before its 1500 ms timeout (the server never answers over UDP):
  // no report yet means startNode returned after its own 300 ms wait, not discovery's.
  assert.equal(node.nat, undefined, "startNode returned before discovery finished");
  const before = node.address.seq;
  const late = await node.natReady();
  assert.ok(late, "discovery reports within its own timeout");
  // The late report was published: the address now carries its summary and a new seq.
  assert.deepEqual(parseAddress(node.addr).interfaces[0].nat.udp, summarize(late!.udp));
  assert.ok(node.address.seq > before, "re-signed with a higher seq");
  assert.ok([...late!.warnings, ...(late!.udp?.warnings ?? [])].length > 0, "the silent server is reported");
});
