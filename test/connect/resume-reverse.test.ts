/**
 * A pipe made by reverse connect (the peer dialled us back) resumes by reverse
 * connect too: the reconnect's signed request names the pipe's resume id, so
 * the peer hands its dial-back session to the pipe it has instead of opening
 * a second one. The TCP connection is killed from outside (`ss -K`, root), as
 * a NAT that forgets it would.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";
import type { Pipe } from "../../src/pipe/pipe.ts";
import { startBroker } from "../../src/signaling/broker.ts";
import { loopbackNode, waitFor } from "../support/nodes.ts";

const root = process.getuid?.() === 0;
let broker: Awaited<ReturnType<typeof startBroker>>;
before(async () => {
  broker = await startBroker({ host: "127.0.0.1", port: 0 });
});
after(async () => {
  await broker?.close();
});

test("a reverse-connected pipe loses its connection mid-transfer: reverse connects again, the peer resumes the same pipe, nothing lost or doubled", { skip: root ? false : "needs root to kill a TCP connection (ss -K)" }, async () => {
  const o = { signaling: [broker.url], allowPrivate: true, pipe: { resumeWindow: 10_000 } };
  const a = await loopbackNode(o);
  const b = await loopbackNode(o);
  const inbound: Pipe[] = [];
  b.on("pipe", (p) => inbound.push(p));
  b.onMessage((m, p) => p.send(`echo ${m.text}`));
  try {
    const pipe = await a.connect(b.addr, { strategies: ["reverse"], timeout: 10_000 });
    assert.equal(pipe.strategy, "reverse");
    assert.ok(pipe.resumeId);
    await waitFor(() => inbound.length === 1, 5000, "b's pipe");
    const paths: string[] = [];
    pipe.on("path", (e) => paths.push(e.state === "resumed" ? `resumed by ${e.to}` : e.state));
    const bPaths: string[] = [];
    inbound[0].on("path", (e) => bPaths.push(e.state === "resumed" ? `resumed by ${e.to}` : e.state));
    const echoes: string[] = [];
    const reading = (async () => {
      for await (const m of pipe) if (echoes.push(m.text) === 200) return;
    })();
    const sends: Array<Promise<void>> = [];
    for (let i = 0; i < 100; i++) sends.push(pipe.send(`m${i}`));
    await Promise.all(sends);
    // b dialled a's listening port: kill that connection (both ends see a reset).
    execFileSync("ss", ["-K", "src", "127.0.0.1", "sport", "=", `:${a.port}`]);
    for (let i = 100; i < 200; i++) sends.push(pipe.send(`m${i}`));
    await Promise.all(sends);
    await reading;
    assert.deepEqual(echoes, Array.from({ length: 200 }, (_, i) => `echo m${i}`), "every echo once, in order");
    assert.deepEqual(paths, ["lost", "resumed by reverse"]);
    assert.equal(pipe.strategy, "reverse");
    assert.equal(inbound.length, 1, "b kept one pipe: the dial-back continued it");
    assert.ok(bPaths.includes("resumed by reverse"), `b's pipe resumed: ${bPaths.join(", ")}`);
    assert.equal(b.pipes.size, 1);
    await pipe.close();
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
