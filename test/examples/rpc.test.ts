import assert from "node:assert/strict";
import { test } from "node:test";
import { PipeClosedError, startNode } from "../../src/index.ts";
import { BusyError, Rpc } from "../../examples/rpc-modules.ts";
import { startExample } from "./example-support.ts";

test("rpc example: named modules, concurrent calls matched by id, typed errors and a timeout", async () => {
  const ex = startExample("rpc.ts");
  assert.deepEqual(await ex.exitWithin(30_000), { code: 0, signal: null }, ex.log());
  assert.deepEqual(ex.stdout, [
    'alice → bob over one pipe ("direct")',
    'My.Echo.Module("Friday") = "Not Friday"',
    "math.add(2, 40) = 42",
    "concurrent calls, in the order they were answered: put → ok, take → parcel",
    "math.add({ a: 'x' }) failed: RemoteError (the module threw BAD_REQUEST): a and b must be numbers",
    'no.such.module() failed: UnknownModuleError: no module "no.such.module"',
    "never.answers() with a 300 ms timeout failed: TimeoutError: never.answers: no answer within 300 ms",
    "done",
  ]);
});

test("rpc-modules: hostile messages are dropped, other traffic is left alone, the in-flight cap answers BUSY, a closed pipe rejects pending calls", async () => {
  const release: Array<() => void> = [];
  const server = await startNode({ host: "127.0.0.1" });
  const client = await startNode({ host: "127.0.0.1" });
  try {
    const served = new Promise<Rpc>((resolve) =>
      server.once("pipe", (p) => resolve(new Rpc(p, { hold: () => new Promise<void>((r) => release.push(r)), ping: () => "pong" }, { maxInFlight: 1 }))),
    );
    const pipe = await client.connect(server.addr, { timeout: 10_000 });
    const rpc = new Rpc(pipe);
    await served;
    // Garbage with our prefix, answers to ids nobody asked for, a bad id, an overlong module name.
    for (const junk of ['{"rpc":1,', '{"rpc":1,"id":"x","module":"ping"}', '{"rpc":1,"id":999,"response":1}', '{"rpc":1,"id":1e400,"error":null}']) await pipe.send(junk);
    await assert.rejects(rpc.call("x".repeat(10_000)), { code: "RPC_ERR_UNKNOWN_MODULE" });
    // A message without the prefix is not the RPC layer's: it still reaches recv() on the other side.
    const plain = server.pipes.values().next().value!;
    await pipe.send("not rpc");
    assert.equal((await plain.recv({ timeout: 5_000 })).text, "not rpc");

    const held = rpc.call("hold", {}, { timeout: 10_000 });
    await assert.rejects(rpc.call("ping"), (e) => e instanceof BusyError);
    release.shift()?.();
    await held;
    assert.equal(await rpc.call("ping"), "pong");

    const pending = assert.rejects(rpc.call("hold", {}, { timeout: 10_000 }), (e) => e instanceof PipeClosedError);
    await plain.close();
    await pending;
  } finally {
    for (const r of release) r();
    await client.close();
    await server.close();
  }
});
