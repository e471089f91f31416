import assert from "node:assert/strict";
import { test } from "node:test";
import { startExample } from "./example-support.ts";

test("echo service + client: the client's messages come back through its subscription; SIGTERM stops the service cleanly", async () => {
  const service = startExample("echo-service.ts");
  const addr = (await service.waitOut(/^address: p2pn1/)).slice("address: ".length);

  const client = startExample("echo-client.ts", [addr, "hello", "wörld 👋"]);
  const exit = await client.exitWithin(20_000);
  assert.deepEqual(exit, { code: 0, signal: null }, client.log());
  assert.deepEqual(client.stdout.filter((l) => l.startsWith("echo: ")), ["echo: hello", "echo: wörld 👋"], client.log());
  assert.match(client.log(), /connected by "direct"/);
  assert.match(client.log(), /done: 2 echoes/);

  // The service saw the peer come, echo twice, and leave with a clean close.
  await service.waitOut(/ left$/, 10_000);
  assert.equal(service.stdout.filter((l) => l.startsWith("echoed ")).length, 2, service.log());
  service.child.kill("SIGTERM");
  assert.deepEqual(await service.exitWithin(10_000), { code: 0, signal: null }, service.log());
  assert.equal(service.stdout.at(-1), "stopped");
});

test("echo client: a bad address is a usage error (exit 2), not a crash", async () => {
  const client = startExample("echo-client.ts", ["not-an-address", "hi"]);
  assert.deepEqual(await client.exitWithin(20_000), { code: 2, signal: null });
  assert.match(client.stderr.join("\n"), /usage: echo-client\.ts ADDRESS TEXT…/);
});
