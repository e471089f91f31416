/**
 * The client of examples/echo-service.ts: connects to the address it printed,
 * sends each argument as a message and prints the echoes, read from a
 * subscription with `for await`.
 *
 *   node --import tsx examples/echo-client.ts p2pn1… hello world
 */
import { startNode, TimeoutError } from "../src/index.ts";

const [addr, ...texts] = process.argv.slice(2);
if (!addr?.startsWith("p2pn1") || texts.length === 0) {
  console.error("usage: echo-client.ts ADDRESS TEXT…");
  process.exit(2);
}

// A client is a node too (every node can accept pipes); it only listens on loopback here.
const node = await startNode({ host: "127.0.0.1" });
try {
  // connect() checks the address's signature and that the peer holds its key.
  const pipe = await node.connect(addr, { timeout: 10_000 });
  console.log(`connected by "${pipe.strategy}" to ${pipe.remoteId.slice(0, 16)}…`);

  // Subscribe before sending, so no reply can slip past. A subscription gets
  // its own copy of every message that matches its filter (here: all of them).
  // Iteration has no timeout of its own: the signal bounds the wait, ending the
  // loop quietly when it aborts (the pipe stays open).
  const wait = AbortSignal.timeout(5_000);
  const replies = pipe.subscribe(undefined, { signal: wait });
  for (const text of texts) await pipe.send(text);

  let received = 0;
  for await (const msg of replies) {
    console.log(`echo: ${msg.text}`);
    if (++received === texts.length) break;
  }
  replies.close();
  if (received < texts.length) throw pipe.error ?? new TimeoutError(`${received} of ${texts.length} echoes within 5 s`);
  await pipe.close(); // graceful: the service sees a clean close
  console.log(`done: ${received} echoes`);
} catch (err) {
  console.error(`error: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await node.close();
}
