/**
 * RPC-style module calls between two peers over one pipe (examples/rpc-modules.ts
 * does the work): named modules, request/response matched by id, timeouts, and
 * errors that come back as typed errors. Both peers run in this process, on loopback.
 *
 *   node --import tsx examples/rpc.ts
 */
import { startNode, TimeoutError, type Pipe } from "../src/index.ts";
import { RemoteError, Rpc, UnknownModuleError, type Module } from "./rpc-modules.ts";

// Bob's modules. A module takes a request object and returns the response (or a promise of it).
const waiting: Array<(item: string) => void> = [];
const modules: Record<string, Module> = {
  // The seed's echo "with a slight twist".
  "My.Echo.Module": (req) => ({ text: `Not ${(req as { text?: string }).text}` }),
  "math.add": (req) => {
    const { a, b } = (req ?? {}) as { a?: unknown; b?: unknown };
    if (typeof a !== "number" || typeof b !== "number") throw Object.assign(new Error("a and b must be numbers"), { code: "BAD_REQUEST" });
    return { sum: a + b };
  },
  // take waits until someone puts: its answer comes after put's, on the same pipe.
  "queue.take": () => new Promise((resolve) => waiting.push((item) => resolve({ item }))),
  "queue.put": (req) => {
    const give = waiting.shift();
    setImmediate(() => give?.(String((req as { item?: unknown })?.item))); // once put's own answer is on its way
    return { ok: true };
  },
  "never.answers": () => new Promise(() => {}),
};

const bob = await startNode({ host: "127.0.0.1" });
// Every pipe a peer opens gets bob's modules (and could call the peer's, too).
bob.on("pipe", (pipe: Pipe) => new Rpc(pipe, modules));

const alice = await startNode({ host: "127.0.0.1" });
const pipe = await alice.connect(bob.addr, { timeout: 10_000 });
const rpc = new Rpc(pipe, {}, { timeout: 5_000 }); // alice serves no modules; she only calls
console.log(`alice → bob over one pipe ("${pipe.strategy}")`);

const echo = await rpc.call<{ text: string }>("My.Echo.Module", { text: "Friday" });
console.log(`My.Echo.Module("Friday") = ${JSON.stringify(echo.text)}`);
console.log(`math.add(2, 40) = ${(await rpc.call<{ sum: number }>("math.add", { a: 2, b: 40 })).sum}`);

// Two calls in flight at once: take is sent first but answered last; ids keep them apart.
const order: string[] = [];
const take = rpc.call<{ item: string }>("queue.take").then((r) => (order.push(`take → ${r.item}`), r));
const put = rpc.call("queue.put", { item: "parcel" }).then(() => order.push("put → ok"));
await Promise.all([take, put]);
console.log(`concurrent calls, in the order they were answered: ${order.join(", ")}`);

// Failures are typed errors: test them with instanceof, or by their stable code.
const failures: Array<[string, Promise<unknown>]> = [
  ["math.add({ a: 'x' })", rpc.call("math.add", { a: "x" })],
  ["no.such.module()", rpc.call("no.such.module")],
  ["never.answers() with a 300 ms timeout", rpc.call("never.answers", {}, { timeout: 300 })],
];
for (const [what, call] of failures) {
  const err = await call.then(() => undefined, (e: Error) => e);
  const kind =
    err instanceof RemoteError ? `RemoteError (the module threw ${err.remoteCode})`
    : err instanceof UnknownModuleError ? "UnknownModuleError"
    : err instanceof TimeoutError ? "TimeoutError"
    : `unexpected: ${err}`;
  console.log(`${what} failed: ${kind}: ${err?.message}`);
}

await pipe.close(); // any call still pending would reject with PipeClosedError
await alice.close();
await bob.close();
console.log("done");
