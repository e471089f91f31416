/**
 * `npm run demo`: two p2pnode nodes on this machine find each other by address
 * and talk over an authenticated, encrypted pipe. Loopback only; no root needed.
 */
import { startNode } from "../src/index.ts";

const say = (text: string) => console.log(text);

say("Starting two nodes, alice and bob, on loopback (127.0.0.1)…");
const alice = await startNode({ host: "127.0.0.1" });
const bob = await startNode({ host: "127.0.0.1" });
say(`  alice is ${alice.id.slice(0, 16)}… listening on port ${alice.port}`);
say(`  bob   is ${bob.id.slice(0, 16)}… listening on port ${bob.port}`);

// Bob's protocol: answer PING with PONG, and upper-case everything else.
bob.onMessage(async (msg, pipe) => {
  await pipe.send(msg.text === "PING" ? "PONG" : msg.text.toUpperCase());
});

say(`\nBob's address is one signed string (${bob.addr.length} characters) that alice needs:`);
say(`  ${bob.addr.slice(0, 72)}…`);

const t0 = Date.now();
const pipe = await alice.connect(bob.addr);
say(`\nAlice connected to bob by "${pipe.strategy}" in ${Date.now() - t0} ms.`);
say(`  The handshake proved bob holds the key in his address (${pipe.remoteId === bob.id ? "verified" : "MISMATCH"}),`);
say(`  and every message from here on is encrypted (AES-256-GCM) and authenticated.`);

for (const text of ["PING", "hello bob", "peer-to-peer, at last"]) {
  const sent = Date.now();
  await pipe.send(text);
  const reply = await pipe.recv({ timeout: 5000 });
  say(`  alice → bob: ${JSON.stringify(text).padEnd(26)} bob → alice: ${JSON.stringify(reply.text)} (${Date.now() - sent} ms)`);
}

await pipe.close();
say(`\nAlice closed the pipe gracefully after ${pipe.stats.messagesSent} messages (${pipe.bytesSent} bytes on the wire).`);
await alice.close();
await bob.close();
say("Both nodes are closed. That is p2pnode: see README.md for NAT discovery, signaling and the CLI.");
