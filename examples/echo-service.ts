/**
 * An echo service: a long-running node that sends every message back to the
 * peer that sent it. Run it, then give its address to examples/echo-client.ts:
 *
 *   node --import tsx examples/echo-service.ts            # prints "address: p2pn1…"
 *   node --import tsx examples/echo-client.ts p2pn1… hello world
 *
 * Ctrl-C (or SIGTERM) stops it cleanly. Loopback only: on a real server drop
 * `host` (listen on every interface) and add `stun` / `signaling` servers.
 */
import { startNode } from "../src/index.ts";

// One call starts the TCP server and signs this node's address. The node runs
// until it is closed; that is what keeps this process alive.
const node = await startNode({ host: "127.0.0.1" });

// onMessage is the server side of your protocol: it sees messages on the pipes
// that peers opened to us, one at a time, in order. Awaiting send() slows a
// peer that sends faster than it reads its echoes (backpressure, never drops).
node.onMessage(async (msg, pipe) => {
  await pipe.send(msg.isText ? msg.text : msg.data);
  console.log(`echoed ${msg.data.length} bytes to ${pipe.remoteId.slice(0, 16)}…`);
});

node.on("pipe", (pipe) => {
  console.log(`peer ${pipe.remoteId.slice(0, 16)}… connected from ${pipe.remoteAddress}`);
  void pipe.closed.then((err) => console.log(`peer ${pipe.remoteId.slice(0, 16)}… left${err ? ` (${err.message})` : ""}`));
});

// close() ends every pipe gracefully and stops the server; then nothing keeps the process alive.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.log("stopping");
    void node.close().then(() => console.log("stopped"));
  });
}

console.log(`echo service ${node.id.slice(0, 16)}… on 127.0.0.1:${node.port}`);
console.log(`address: ${node.addr}`); // the one string a client needs
