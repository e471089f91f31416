/**
 * `npm run demo`: two p2pnode nodes on this machine, with an embedded STUN
 * server and an embedded signaling broker, find each other and talk over an
 * authenticated, encrypted pipe — first directly, then by reverse connect,
 * then through an embedded TURN relay. Loopback only; no root needed.
 */
import { startEmbeddedRelay, startNode } from "../src/index.ts";
import { startBroker } from "../src/signaling/broker.ts";
import { StunServer } from "../src/stun/server.ts";

const say = (text: string) => console.log(text);

say("Starting the local servers a real deployment would run on the internet:");
const stun = await StunServer.listen({ host: "127.0.0.1", port: 0, altHost: "127.0.0.2", altPort: 0 });
const broker = await startBroker({ host: "127.0.0.1", port: 0 });
const stunUri = `stun:127.0.0.1:${stun.addresses.primary.port}`;
say(`  STUN server (RFC 5780, two addresses) at ${stunUri} and 127.0.0.2:${stun.addresses.other?.port}`);
say(`  signaling broker (MQTT) at ${broker.url}`);
const relay = await startEmbeddedRelay({ port: 0, users: { alice: "demo-only-password" } });
say(`  TURN relay (node-turn, long-term credentials) at ${relay.url}`);

say("\nStarting two nodes, alice and bob, on loopback…");
// allowPrivate: on one machine every endpoint is a loopback one; real nodes refuse those from strangers.
const common = { host: "127.0.0.1", stun: [stunUri], signaling: [broker.url], allowPrivate: true };
// Alice has TURN credentials; bob needs none, only the strategy that answers her request.
const turnServer = { urls: relay.url, username: "alice", credential: "demo-only-password" };
const alice = await startNode({ ...common, turn: [turnServer] });
const bob = await startNode(common);
say(`  alice is ${alice.id.slice(0, 16)}… on port ${alice.port}`);
say(`  bob   is ${bob.id.slice(0, 16)}… on port ${bob.port}`);
const nat = await bob.natReady();
say(`  NAT discovery (${nat?.durationMs} ms): bob is "${nat?.tcp?.natType}" over TCP, "${nat?.udp?.natType}" over UDP — loopback has no NAT`);

// Bob's protocol: answer PING with PONG, and upper-case everything else.
bob.onMessage(async (msg, pipe) => {
  await pipe.send(msg.text === "PING" ? "PONG" : msg.text.toUpperCase());
});

say(`\nBob's address is one signed string (${bob.addr.length} characters) that alice needs:`);
say(`  ${bob.addr.slice(0, 72)}…`);

let t0 = Date.now();
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
say(`Alice closed the pipe gracefully after ${pipe.stats.messagesSent} messages (${pipe.bytesSent} bytes on the wire).`);

say("\nNow as if bob were behind a firewall: alice asks him, over signaling, to dial her (reverse connect).");
t0 = Date.now();
const rev = await alice.connect(bob.id, { brokers: [broker.url], strategies: ["reverse"] });
say(`  Alice fetched bob's current address by his id alone, and bob dialled back: "${rev.strategy}" in ${Date.now() - t0} ms.`);
await rev.send("the signaling messages were signed and encrypted end to end");
say(`  bob → alice: ${JSON.stringify((await rev.recv({ timeout: 5000 })).text)}`);
await rev.close();

say("\nAnd as if nothing else could get through (two symmetric NATs): through the TURN relay.");
t0 = Date.now();
const relayed = await alice.connect(bob.addr, { strategies: ["turn"] });
say(`  Alice allocated on the relay, bob reached her relayed address: "${relayed.strategy}" in ${Date.now() - t0} ms.`);
await relayed.send("the relay only ever sees ciphertext");
say(`  bob → alice: ${JSON.stringify((await relayed.recv({ timeout: 5000 })).text)}`);
await relayed.close();

await alice.close();
await bob.close();
await broker.close();
await stun.close();
await relay.close();
say("\nAll closed. See README.md for the CLI, the NAT lab and what comes next.");
