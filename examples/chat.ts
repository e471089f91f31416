/**
 * Chat between two terminals. The first waits for a peer and prints the
 * command to run in the second; after that both sides are the same: each line
 * you type goes over the pipe, each line the peer types is printed.
 *
 *   node --import tsx examples/chat.ts              # terminal 1: prints the address
 *   node --import tsx examples/chat.ts p2pn1…       # terminal 2
 *
 * Ctrl-D (end of input) leaves and the other side is told; Ctrl-C leaves at once.
 */
import { createInterface } from "node:readline";
import { startNode, type Pipe } from "../src/index.ts";

const peerAddr = process.argv[2];
const node = await startNode({ host: "127.0.0.1" }); // loopback: both terminals on this machine
process.once("SIGINT", () => void node.close().then(() => process.exit(0)));

let pipe: Pipe;
if (peerAddr) {
  try {
    pipe = await node.connect(peerAddr, { timeout: 10_000 });
  } catch (err) {
    // A typed error with a stable code (AddressError, ConnectError, …) saying what went wrong.
    console.error(`error: ${(err as Error).message}`);
    await node.close();
    process.exit(1);
  }
} else {
  console.log("waiting for a peer; in another terminal run:");
  console.log(`  node --import tsx examples/chat.ts ${node.addr}`);
  // A node hands every pipe a peer opened to its 'pipe' listeners. This chat takes the first one.
  pipe = await new Promise<Pipe>((resolve) => node.once("pipe", resolve));
  node.on("pipe", (late) => void late.close()); // one conversation at a time
}
console.log(`connected to ${pipe.remoteId.slice(0, 16)}… ("${pipe.strategy}"); type a line and press Enter, Ctrl-D to leave`);

// The peer's lines. A 'message' listener takes every message, on either side of the pipe.
pipe.on("message", (msg) => console.log(`peer: ${msg.isText ? msg.text : `(${msg.data.length} bytes of binary)`}`));

// Our lines. send() resolves once the message is handed to the OS; awaiting it
// keeps a fast paste from piling up in memory.
const input = createInterface({ input: process.stdin, terminal: false });
const typing = (async () => {
  for await (const line of input) if (line) await pipe.send(line);
})();

// Whichever ends first: our input (we leave) or the pipe (the peer left or was lost).
const peerLeft = pipe.closed.then((err) => (err ? `connection lost: ${err.message}` : "the peer left"));
const why = await Promise.race([typing.then(() => "bye"), peerLeft]);
input.close();
process.stdin.destroy(); // stop reading a terminal that is still open
await pipe.close(); // graceful: every line we sent is delivered before the peer is told
await node.close();
console.log(why);
