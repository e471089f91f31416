import { createInterface } from "node:readline";
import type { Command } from "commander";
import { TimeoutError } from "../errors.ts";
import { startNode, type Node } from "../node.ts";
import type { Pipe } from "../pipe.ts";
import { createOutput, intArg, type Output } from "./output.ts";
import { messageFields, nodeFlags, nodeOptions, type CommonNodeFlags } from "./listen.ts";

interface ConnectFlags extends CommonNodeFlags {
  send?: string;
  timeout: number;
}

async function interactive(pipe: Pipe, out: Output): Promise<void> {
  // Like netcat: each stdin line is a message; each message is a stdout line.
  const printer = (async () => {
    for await (const msg of pipe) {
      out.event("message", messageFields(msg));
      if (!out.json) process.stdout.write((msg.isText ? msg.text : Buffer.from(msg.data).toString("base64")) + "\n");
    }
  })();
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  const closedEarly = pipe.closed.then(() => rl.close());
  for await (const line of rl) {
    if (pipe.state !== "open") break;
    await pipe.send(line);
  }
  await pipe.close();
  await closedEarly;
  await printer.catch((err) => out.fail(err));
}

export function register(program: Command): void {
  nodeFlags(program.command("connect"))
    .argument("<addr>", "the peer's address (starts with p2pn1), or its node id with --signal")
    .description("connect to a peer; send one message and print the reply, or pipe stdin/stdout like netcat")
    .option("--send <text>", "send this message, print the reply, and exit")
    .option("--timeout <ms>", "give up connecting (and waiting for a reply) after this long", intArg("--timeout"), 20_000)
    .action(async (addr: string, flags: ConnectFlags) => {
      const out = createOutput(!!flags.json);
      const started = Date.now();
      let node: Node | undefined;
      try {
        node = await startNode(nodeOptions(flags));
        // Ranking reads our own NAT type from our address: let discovery finish (it is bounded).
        await Promise.all([node.natReady(), node.portMappingReady()]);
        out.info(`connecting…`);
        const pipe = await node.connect(addr, {
          brokers: flags.signal, // used when ADDR is a bare node id
          timeout: flags.timeout,
          onProgress: (event, detail) => {
            out.event("progress", { step: event, ...detail });
            if (event === "dial") out.info(`  trying ${detail.host}:${detail.port} (${detail.kind})`);
            else if (event === "strategy") out.info(`  trying ${detail.strategy} (${detail.reason})`);
            else if (event === "strategy-failed") out.info(`  ${detail.strategy} failed: ${detail.error}`);
          },
        });
        const ms = Date.now() - started;
        out.event("connected", { strategy: pipe.strategy, ms, remoteId: pipe.remoteId, remoteAddress: pipe.remoteAddress });
        out.info(`connected to ${pipe.remoteId.slice(0, 12)}… by ${pipe.strategy} in ${ms} ms`);
        if (flags.send !== undefined) {
          await pipe.send(flags.send);
          const reply = await pipe.recv({ timeout: flags.timeout });
          out.event("message", messageFields(reply));
          out.data(reply.isText ? reply.text : Buffer.from(reply.data).toString("base64"));
          await pipe.close();
        } else {
          await interactive(pipe, out);
        }
        out.event("closed");
      } catch (err) {
        if (err instanceof TimeoutError && flags.send !== undefined) err.message = `no reply within ${flags.timeout} ms: ${err.message}`;
        await node?.close();
        out.fail(err);
      }
      await node?.close();
    });
}
