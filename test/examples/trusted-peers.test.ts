import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { startExample } from "./example-support.ts";

const dir = mkdtempSync(join(tmpdir(), "p2pnode-trusted-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]) {
  const ex = startExample("trusted-peers.ts", args);
  return { ...(await ex.exitWithin(30_000)), out: ex.stdout, log: ex.log() };
}

test("trusted peers: a known peer is served, a stranger is refused with the library's typed error", async () => {
  const alicePem = join(dir, "alice.pem");
  const id = await run(["id", alicePem]);
  assert.equal(id.code, 0, id.log);
  const aliceId = id.out[0];
  assert.match(aliceId, /^[a-z2-7]{52}$/);
  assert.equal(statSync(alicePem).mode & 0o777, 0o600);
  assert.deepEqual((await run(["id", alicePem])).out, [aliceId], "the same key file gives the same id");

  const service = startExample("trusted-peers.ts", ["serve", aliceId]);
  const addr = (await service.waitOut(/^address: p2pn1/)).slice("address: ".length);

  const alice = await run(["call", addr, alicePem]);
  assert.deepEqual([alice.code, alice.out], [0, ["reply: hello, trusted peer"]], alice.log);
  await service.waitOut(new RegExp(`^accepted ${aliceId.slice(0, 16)}… from 127\\.0\\.0\\.1$`));

  const eve = await run(["call", addr, join(dir, "eve.pem")]);
  assert.equal(eve.code, 1, eve.log);
  assert.match(eve.out[0], /^refused: P2P_ERR_CONNECT: direct: could not reach the peer .*\(P2P_ERR_REFUSED: the peer refused the connection\)$/);
  await service.waitOut(/^refused /);
  assert.equal(service.stdout.filter((l) => l.startsWith("refused ")).length, 1, "only the stranger was refused");
  assert.ok(!service.stdout.some((l) => l.includes(aliceId.slice(0, 16)) && l.startsWith("refused")));

  service.child.kill("SIGTERM");
  assert.deepEqual(await service.exitWithin(10_000), { code: 0, signal: null }, service.log());
});

test("trusted peers: serve refuses a list that holds something other than node ids (usage, exit 2)", async () => {
  const r = await run(["serve", "not-a-node-id"]);
  assert.equal(r.code, 2, r.log);
  assert.match(r.log, /usage: trusted-peers\.ts/);
});
