// The lab's real servers answer from inside the lab (coturn, mosquitto, miniupnpd),
// and teardown leaves no namespace, process or veth behind.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { Lab, PUBLIC_HOSTS, TURN_USER, PYTHON, withLabLogs } from "./lab.ts";
import { allNamespaces, PREFIX } from "./plan.ts";
import { recordedAlive, startTime } from "./procs.ts";
import { labSkipReason } from "./require-lab.ts";

const skip = labSkipReason();

describe("NAT lab servers", { skip: skip ?? false }, () => {
  let lab: Lab;
  const withLogs = withLabLogs(() => lab);
  before(async () => {
    lab = await Lab.up({ a: "port-restricted", b: "port-restricted" });
  });
  after(() => lab?.down());

  test("coturn: STUN binding, TURN allocation over UDP and RFC 6062 TCP relay", withLogs(async () => {
    const turn = await lab.startCoturn();
    const stun = await lab.exec("a1", ["turnutils_stunclient", "-p", String(turn.port), turn.host]);
    assert.match(stun.stdout, new RegExp(`UDP reflexive addr: ${lab.publicIp("a").replace(/\./g, "\\.")}:\\d+`), stun.stdout);
    const creds = ["-u", TURN_USER.username, "-w", TURN_USER.password];
    const [udp, tcp, bad] = await Promise.all([
      lab.exec("a1", ["turnutils_uclient", "-y", "-n", "3", "-m", "1", ...creds, turn.host], { timeoutMs: 30_000 }),
      lab.exec("b1", ["turnutils_uclient", "-T", "-n", "3", "-m", "1", ...creds, turn.host], { timeoutMs: 30_000 }),
      lab.exec("a2", ["turnutils_uclient", "-y", "-n", "3", "-m", "1", "-u", TURN_USER.username, "-w", "wrong", turn.host], { timeoutMs: 8_000 }),
    ]);
    for (const [name, r] of [["udp", udp], ["tcp (RFC 6062)", tcp]] as const) {
      const total = /start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/.exec(r.stdout);
      assert.ok(total, `${name}: uclient summary missing:\n${r.stdout}\n${r.stderr}`);
      assert.ok(Number(total[1]) > 0 && total[1] === total[2], `${name}: every message relayed: ${total[0]}`);
      assert.match(r.stdout, /Total lost packets 0 /);
    }
    assert.doesNotMatch(bad.stdout, /tot_recv_msgs=[1-9]/, "a wrong password gets no relay");
  }));

  test("mosquitto: subscribe/publish round trip from a NATed host", withLogs(async () => {
    const mq = await lab.startMosquitto();
    const r = await lab.probe<{ topic: string; message: string }>("b1", ["mqtt", "--broker", `${mq.host}:${mq.port}`, "--topic", "p2pn/test", "--message", "from-b1"]);
    assert.deepEqual(r, { topic: "p2pn/test", message: "from-b1" });
  }));

  for (const igd of [1, 2] as const) {
    test(`miniupnpd IGD v${igd}: device description, NAT-PMP mapping forwards a TCP connection from the wan`, withLogs(async () => {
      await lab.setNat("a", "port-restricted");
      const upnp = await lab.startMiniupnpd("a", { igd });
      try {
        const desc = await lab.probe<{ status: number; body: string }>("a1", ["http-get", "--url", `http://${upnp.gateway}:${upnp.httpPort}/rootDesc.xml`]);
        assert.equal(desc.status, 200);
        assert.match(desc.body, new RegExp(`urn:schemas-upnp-org:device:InternetGatewayDevice:${igd}`));

        const port = 7000 + igd;
        const listener = lab.spawn("a1", PYTHON, ["-c", `import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('0.0.0.0',${port}));s.listen();print('up',flush=True);c,a=s.accept();print('from',a[0],c.recv(100).decode(),flush=True);c.sendall(b'ok');c.close()`]);
        await listener.waitForLine(/up/);
        // Without a mapping the router drops the SYN.
        const before = await lab.probe<{ connected: boolean }>("pub1", ["send", "--proto", "tcp", "--to", `${lab.publicIp("a")}:${port}`, "--timeout", "1"]);
        assert.equal(before.connected, false);
        const map = await lab.probe<{ externalIp: string; resultCode: number; external: number }>("a1", ["natpmp", "--gw", upnp.gateway, "--proto", "tcp", "--internal", String(port), "--external", String(port)]);
        assert.equal(map.resultCode, 0, JSON.stringify(map));
        assert.equal(map.externalIp, lab.publicIp("a"));
        const after = await lab.probe<{ connected: boolean; reply: string }>("pub1", ["send", "--proto", "tcp", "--to", `${map.externalIp}:${map.external}`, "--message", "via-upnp"]);
        assert.deepEqual(after, { connected: true, reply: "ok" });
        assert.match(await listener.waitForLine(/^from/), new RegExp(`^from ${PUBLIC_HOSTS.pub1.ips[0].replace(/\./g, "\\.")} via-upnp`));
      } finally {
        await lab.stopMiniupnpd("a");
      }
    }));
  }

  test("teardown leaves no namespace, process or veth behind (and is idempotent)", async () => {
    const turn = await lab.startCoturn();
    const pids = [turn.proc.pid, (await lab.startMosquitto()).proc.pid];
    const starts = pids.map(startTime);
    assert.ok(starts.every((s) => s !== null), "servers run before teardown");
    await lab.down();
    await lab.down();
    process.stdout.write(`# lab build ${lab.buildMs} ms, teardown ${lab.downMs} ms\n`);
    const ns = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    assert.doesNotMatch(ns, new RegExp(PREFIX), `namespaces left: ${ns}`);
    pids.forEach((pid, i) => assert.notEqual(startTime(pid), starts[i], `pid ${pid} still runs`));
    assert.deepEqual(recordedAlive(), []);
    // Every link lived inside a lab namespace: none may show up in the root namespace.
    const links = spawnSync("ip", ["-o", "link", "show"], { encoding: "utf8" }).stdout;
    const ours = new Set([...allNamespaces(), "wan0", "lan0", "br0"]);
    const leaked = links.split("\n").map((l) => l.split(": ")[1]?.split("@")[0]).filter((n): n is string => !!n && (ours.has(n) || n.startsWith(PREFIX)));
    assert.deepEqual(leaked, [], links);
  });
});
