import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import { formatNatReport } from "../../src/cli/nat.ts";
import { discoverNat } from "../../src/nat/discovery.ts";

const root = new URL("../..", import.meta.url).pathname;
const run = (args: string[]) => spawn(process.execPath, ["--import", "tsx", "--import", "./test/support/guard.ts", "test/nat/cli-fixture.ts", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });

describe("CLI: p2pnode stun / p2pnode nat", () => {
  it("stun --json prints ready, serves discovery, exits cleanly on SIGTERM; nat prints JSON and words", async () => {
    const srv = run(["stun", "--port", "0", "--alt-host", "127.0.0.2", "--alt-port", "0", "--json"]);
    try {
      const lines = createInterface({ input: srv.stdout! })[Symbol.asyncIterator]();
      const ready = JSON.parse((await lines.next()).value as string);
      assert.equal(ready.event, "ready");
      assert.match(ready.uri, /^stun:127\.0\.0\.1:\d+$/);
      assert.equal(ready.other.address, "127.0.0.2");

      const nat = run(["nat", "--stun", ready.uri, "--json", "--timeout", "1500"]);
      let out = "";
      nat.stdout!.on("data", (d) => (out += d));
      const [code] = await once(nat, "exit");
      assert.equal(code, 0);
      const ev = JSON.parse(out.trim());
      assert.equal(ev.event, "report");
      assert.equal(ev.report.udp.natType, "open");
      assert.equal(ev.report.tcp.natType, "open");

      const text = formatNatReport(await discoverNat({ servers: [ready.uri], localAddress: "127.0.0.1" }));
      assert.match(text, /UDP: open/);
      assert.match(text, /TCP: open/);
      assert.match(text, /ms +ok +udp test I/);

      srv.kill("SIGTERM");
      const closed = JSON.parse((await lines.next()).value as string);
      assert.equal(closed.event, "closed");
      const [scode] = await once(srv, "exit");
      assert.equal(scode, 0);
    } finally {
      if (srv.exitCode === null) srv.kill("SIGKILL");
    }
  });

  it("nat without --stun fails with a clear message", async () => {
    const nat = run(["nat"]);
    let err = "";
    nat.stderr!.on("data", (d) => (err += d));
    const [code] = await once(nat, "exit");
    assert.equal(code, 1);
    assert.match(err, /at least one --stun/);
  });
});
