/**
 * A service that accepts only known peers (the p2p-platform seed's "trusted
 * users"). A peer is known by its node id, the public key its identity file
 * holds: the handshake proves the peer owns that key before accept() is asked,
 * so an id cannot be borrowed. Exchanging ids is the "token" step.
 *
 *   node --import tsx examples/trusted-peers.ts id alice.pem          # alice's id (creates the key)
 *   node --import tsx examples/trusted-peers.ts serve ALICE_ID …      # prints "address: p2pn1…"
 *   node --import tsx examples/trusted-peers.ts call p2pn1… alice.pem # "reply: hello, trusted peer"
 *   node --import tsx examples/trusted-peers.ts call p2pn1… eve.pem   # "refused: …", exit 1
 */
import { ConnectError, Identity, isNodeId, startNode } from "../src/index.ts";

const [command, ...args] = process.argv.slice(2);
const usage = () => {
  console.error("usage: trusted-peers.ts id KEYFILE | serve NODE_ID… | call ADDRESS KEYFILE");
  process.exit(2);
};

if (command === "id" && args.length === 1) {
  // loadOrCreate writes a new Ed25519 key (mode 0600) the first time.
  console.log((await Identity.loadOrCreate(args[0])).id);
} else if (command === "serve" && args.length > 0 && args.every(isNodeId)) {
  const trusted = new Set(args);
  const node = await startNode({
    host: "127.0.0.1",
    // Asked for every authenticated inbound pipe (and for signaling requests, which
    // would make us dial out). false: the peer gets a refusal, we get no pipe.
    accept: (peerId, info) => {
      const ok = trusted.has(peerId);
      console.log(`${ok ? "accepted" : "refused"} ${peerId.slice(0, 16)}… from ${info.remoteAddress}`);
      return ok;
    },
  });
  node.onMessage((msg, pipe) => pipe.send(`${msg.text}, trusted peer`));
  process.once("SIGTERM", () => void node.close());
  process.once("SIGINT", () => void node.close());
  console.log(`address: ${node.addr}`);
} else if (command === "call" && args.length === 2) {
  const node = await startNode({ host: "127.0.0.1", identityFile: args[1] });
  try {
    const pipe = await node.connect(args[0], { timeout: 10_000 });
    await pipe.send("hello");
    console.log(`reply: ${(await pipe.recv({ timeout: 5_000 })).text}`);
    await pipe.close();
  } catch (err) {
    // A refusal is a ConnectError (every strategy failed); each strategy's own
    // failure is in err.errors, and the reasons name the refusal's code, P2P_ERR_REFUSED.
    if (err instanceof ConnectError) console.log(`refused: ${err.code}: ${err.trace.map((a) => a.reason).join("; ")}`);
    else console.log(`error: ${(err as Error).message}`); // a bad address, a timeout, …
    process.exitCode = 1;
  } finally {
    await node.close();
  }
} else usage();
