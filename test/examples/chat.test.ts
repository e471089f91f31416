import assert from "node:assert/strict";
import { test } from "node:test";
import { startExample } from "./example-support.ts";

test("chat: two terminals (stdin/stdout of two processes) talk both ways; Ctrl-D on one ends both", async () => {
  const one = startExample("chat.ts");
  const hint = await one.waitOut(/examples\/chat\.ts p2pn1/);
  const addr = hint.trim().split(" ").at(-1)!;

  const two = startExample("chat.ts", [addr]);
  await two.waitOut(/^connected to .*\("direct"\)/);
  await one.waitOut(/^connected to /);

  two.type("hello from two");
  assert.equal(await one.waitOut(/^peer: /, 10_000), "peer: hello from two");
  one.type("héllo from one ✓");
  one.type(""); // an empty line sends nothing
  one.type("and a second line");
  assert.equal(await two.waitOut(/^peer: and a second/, 10_000), "peer: and a second line");
  assert.deepEqual(two.stdout.filter((l) => l.startsWith("peer: ")), ["peer: héllo from one ✓", "peer: and a second line"]);

  // Ctrl-D in terminal two: it leaves, and terminal one is told and ends too.
  two.child.stdin!.end();
  assert.deepEqual(await two.exitWithin(10_000), { code: 0, signal: null }, two.log());
  assert.equal(two.stdout.at(-1), "bye");
  assert.deepEqual(await one.exitWithin(10_000), { code: 0, signal: null }, one.log());
  assert.equal(one.stdout.at(-1), "the peer left");
});

test("chat: a bad address ends with the library's error and exit 1", async () => {
  const two = startExample("chat.ts", ["p2pn1-not-really"]);
  assert.deepEqual(await two.exitWithin(20_000), { code: 1, signal: null }, two.log());
  assert.match(two.stderr.join("\n"), /^error: /);
});
