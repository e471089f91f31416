/** Test helpers: nodes on loopback, closed after the test. */
import { after } from "node:test";
import { startNode, type Node, type NodeOptions } from "../../src/node.ts";

const open = new Set<Node>();
after(async () => {
  await Promise.all([...open].map((n) => n.close()));
});

/** Starts a node bound to 127.0.0.1 only; closed automatically after the file's tests. */
export async function loopbackNode(opts: NodeOptions = {}): Promise<Node> {
  const node = await startNode({ host: "127.0.0.1", ...opts });
  open.add(node);
  return node;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves when `fn` returns truthy, polling; rejects after `timeout` ms. */
export async function waitFor(fn: () => boolean, timeout = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + timeout;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
