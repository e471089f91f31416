import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import type { NodeAddress } from "../identity/address.ts";
import { InvalidArgumentError, PipeClosedError, TimeoutError } from "../errors.ts";
import type { LogLevel } from "../util/logger.ts";
import type { Node } from "../node.ts";
import type { Pipe } from "../pipe/pipe.ts";
import type { StrategyName } from "../strategies/strategy.ts";
import { CliExit, createOutput, EXIT, guardStdio, helpAfter, hostPort, onStdoutClosed, orUsage, type Output } from "./output.ts";
import { turnOptions } from "./turn-flags.ts";
import { describeAttempt } from "../util/trace.ts";
import { deadline, withDeadline, type Deadline } from "../util/deadline.ts";
import { announceDefaults, messageFields, nodeFlags, nodeOptions, relayNote, type CommonNodeFlags } from "./listen.ts";
import type { BrokerWatch } from "./watch.ts";
import { progressEvent } from "../connect/progress.ts";
import { discoveryForPlan } from "../connect/discovery-wait.ts";
import { progressLine, reportPath } from "./progress.ts";

interface ConnectFlags extends CommonNodeFlags {
  send?: string;
  sendFile?: string;
  binary?: boolean;
  timeout: number;
  via?: StrategyName[];
}

const STRATEGY_NAMES: readonly StrategyName[] = ["direct", "reverse", "punch", "turn"];

/** --via direct,turn: only these strategies, in this order. */
function viaArg(value: string): StrategyName[] {
  const names = value.split(",").map((x) => x.trim().toLowerCase()).filter(Boolean);
  const bad = names.filter((n) => !STRATEGY_NAMES.includes(n as StrategyName));
  if (!names.length || bad.length) throw new InvalidArgumentError(`--via takes strategies from ${STRATEGY_NAMES.join(", ")}, comma-separated (got ${JSON.stringify(value)})`);
  return [...new Set(names)] as StrategyName[];
}

/** A node id is 52 characters of base32 (a-z, 2-7); an address starts with p2pn1. */
const looksLikeId = (s: string) => /^[a-z2-7]{52}$/i.test(s.trim());

/** Decodes UTF-8 strictly: undefined when the bytes are not valid UTF-8 (nothing is replaced). */
function strictUtf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function positiveMs(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--timeout must be a positive whole number of ms (got ${JSON.stringify(v)})`);
  return n;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks);
}

/** Prints a received message: text as a line, binary as its bytes, unaltered. */
function printMessage(out: Output, msg: { isText: boolean; text: string; data: Uint8Array }, binary: boolean, notes: { binary: boolean }): void {
  if (binary) return out.bytes(msg.data);
  if (msg.isText) return out.data(msg.text);
  out.bytes(msg.data);
  if (!notes.binary && !out.json) {
    notes.binary = true;
    out.warn(`the peer sent binary data (${msg.data.length} bytes): written to stdout unaltered; use --binary for byte streams`);
  }
}

/**
 * Like netcat. Text mode: each stdin line is a text message (stdin must be
 * UTF-8: anything else is refused, never rewritten); each text message is a
 * stdout line. --binary: stdin's bytes go as binary messages and messages come
 * out as their bytes. Returns the exit code: 0 when stdin ended and the pipe
 * closed, 3 when the peer left first.
 */
async function netcat(pipe: Pipe, out: Output, binary: boolean): Promise<number> {
  const notes = { binary: false };
  const printer = (async () => {
    for await (const msg of pipe) {
      out.event("message", messageFields(msg));
      printMessage(out, msg, binary, notes);
    }
  })().catch(() => {}); // the pipe's end is reported below
  let weClosed = false;
  const gone = pipe.closed.then((err) => ({ gone: true as const, err }));
  const offStdout = onStdoutClosed(() => {
    weClosed = true;
    void pipe.close();
  });
  const reader = process.stdin[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let pending: Buffer = Buffer.alloc(0);
  let lineNo = 0;
  let stdinEnded = false;
  const sendLine = async (line: Buffer) => {
    lineNo++;
    if (line.length && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    const text = strictUtf8(line);
    if (text === undefined) {
      throw new InvalidArgumentError(`stdin line ${lineNo} is not valid UTF-8 (binary data?): nothing was sent or altered from it; use --binary to send raw bytes`);
    }
    await pipe.send(text);
  };
  try {
    for (;;) {
      const next = await Promise.race([reader.next(), gone]);
      if ("gone" in next || pipe.state !== "open") break;
      if (next.done) {
        stdinEnded = true;
        break;
      }
      const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
      if (binary) {
        for (let off = 0; off < chunk.length; off += pipe.maxSendSize) await pipe.send(chunk.subarray(off, off + pipe.maxSendSize));
        continue;
      }
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (let nl = pending.indexOf(0x0a); nl >= 0; nl = pending.indexOf(0x0a)) {
        await sendLine(pending.subarray(0, nl));
        pending = pending.subarray(nl + 1);
      }
    }
    if (stdinEnded && !binary && pending.length) await sendLine(pending);
  } catch (err) {
    if (!(err instanceof PipeClosedError) || pipe.state === "open") {
      weClosed = true;
      process.stdin.destroy();
      await pipe.close();
      await printer;
      offStdout();
      return out.fail(err);
    }
  }
  offStdout();
  if (stdinEnded || weClosed) {
    weClosed = true;
    await pipe.close();
    await printer;
    return EXIT.ok;
  }
  // The peer left (or the connection was lost) while stdin is still open: say so and stop reading.
  process.stdin.destroy();
  await printer;
  const err = await pipe.closed;
  out.event("peer-closed", { error: err?.message ?? null });
  return out.fail(new PipeClosedError(err ? `the connection to the peer was lost: ${err.message}` : "the peer closed the connection"), EXIT.peerGone);
}

/** The error for a get-addr request that timed out, in words a user can act on. */
function explainFetchTimeout(err: TimeoutError, id: string, brokers: string[], watch: BrokerWatch | undefined, ms: number): Error {
  if (watch?.allUnreachable(brokers)) {
    return new TimeoutError(`could not reach the signaling broker${brokers.length > 1 ? "s" : ""} ${watch.describe(brokers)} within ${ms} ms (--timeout): check --signal and that the broker is running`, { cause: err });
  }
  if (/acknowledged but no reply/.test(err.message)) {
    return new TimeoutError(`the node ${id.slice(0, 12)}… acknowledged but sent no address within ${ms} ms (--timeout): it may be overloaded or refusing; try again`, { cause: err });
  }
  return new TimeoutError(
    `no node with that id answered on ${brokers.join(", ")} within ${ms} ms: is it online and using the same broker (its --signal)? Check the id too (${id.slice(0, 12)}…, copy it whole)`,
    { cause: err },
  );
}

export function register(program: Command): void {
  helpAfter(nodeFlags(program.command("connect")), [
    "p2pnode connect p2pn1… --send hi                       # print the reply, exit 0",
    "p2pnode connect p2pn1… < notes.txt                      # netcat: each line a message, replies to stdout",
    "p2pnode connect p2pn1… --binary < photo.jpg > echo.jpg  # raw bytes both ways",
    "p2pnode connect p2pn1… --turn turns:HOST:5349 --turn-user alice --send hi   # relay; password in P2PNODE_TURN_PASS",
    "p2pnode connect NODE_ID --signal mqtt://HOST:1883 --send-file report.pdf --binary",
  ])
    .argument("<addr>", "the peer's address (starts with p2pn1), or its node id with --signal")
    .description("connect to a peer; send one message and print the reply, or pipe stdin/stdout like netcat")
    .option("--send <text>", "send this text message, print the reply, and exit")
    .option("--send-file <file>", "send this file (- for stdin) as one message, print the reply, and exit")
    .option("--binary", "raw bytes: stdin (or --send-file) goes as binary messages, messages come out as their bytes")
    .option("--via <strategies>", `only these strategies, in this order (${STRATEGY_NAMES.join(", ")}; comma-separated)`, viaArg)
    .option("--timeout <ms>", "limit for the whole command up to the connection (and the reply, with --send)", positiveMs, 20_000)
    .action(async (addr: string, flags: ConnectFlags) => {
      guardStdio();
      const out = createOutput(!!flags.json);
      // Loaded here, not at the top: `p2pnode --help` stays fast.
      const [{ startNode }, { parseAddress }, { isNodeId, publicKeyFromId }, { watchBrokers }] = await Promise.all([
        import("../node.ts"),
        import("../identity/address.ts"),
        import("../identity/identity.ts"),
        import("./watch.ts"),
      ]);
      const started = Date.now();
      let budget: Deadline | undefined;
      const left = () => Math.max(1, budget ? budget.remaining() : flags.timeout);
      let node: Node | undefined;
      let watch: BrokerWatch | undefined;
      let phase = "starting the node";
      let ticker: NodeJS.Timeout | undefined;
      const brokers = flags.signal ?? [];
      orUsage(out, () => turnOptions(flags)); // a --turn without its user or password is a usage error, said first
      try {
        if (flags.send !== undefined && flags.sendFile !== undefined) throw new InvalidArgumentError("give --send or --send-file, not both");
        // Check what we were given before anything else.
        const target = addr.trim();
        let remote: NodeAddress | undefined;
        if (looksLikeId(target)) {
          if (!isNodeId(target.toLowerCase())) publicKeyFromId(target.toLowerCase()); // throws the reason
          if (!brokers.length) {
            throw new InvalidArgumentError("connecting by node id needs the signaling broker the peer uses: add --signal mqtt://HOST:PORT (or give its full p2pn1… address)");
          }
        } else {
          remote = parseAddress(target);
        }
        const id = remote?.id ?? target.toLowerCase();
        let payload: string | Uint8Array | undefined = flags.send;
        if (flags.sendFile !== undefined) {
          const bytes = flags.sendFile === "-" ? await readAll(process.stdin) : await readFile(flags.sendFile);
          if (flags.binary) payload = new Uint8Array(bytes);
          else {
            payload = strictUtf8(bytes);
            if (payload === undefined) throw new InvalidArgumentError(`${flags.sendFile === "-" ? "stdin" : flags.sendFile} is not valid UTF-8 text: add --binary to send its bytes unaltered`);
          }
        }
        const oneShot = payload !== undefined;

        // --timeout bounds the whole command, whatever step is slow (a dead broker, discovery, the dial).
        budget = deadline({ timeout: flags.timeout, what: "p2pnode connect" });
        budget.signal.addEventListener("abort", () => {
          const err =
            phase === "asking for the address" || watch?.allUnreachable(brokers)
              ? explainFetchTimeout(new TimeoutError(`get-addr request: no acknowledgement within ${flags.timeout} ms`), id, brokers, watch, flags.timeout)
              : new TimeoutError(`gave up after ${flags.timeout} ms (--timeout) while ${phase}`);
          try {
            out.fail(err);
          } catch {
            // printed
          }
          const bye = () => process.exit(EXIT.error);
          // Closing gets a second at most, then the process goes anyway.
          void withDeadline({ timeout: 1000, what: "closing the node" }, () => node?.close() ?? Promise.resolve()).then(bye, bye);
        }, { once: true });

        if (brokers.length) watch = watchBrokers(out, flags.log as LogLevel | undefined);
        announceDefaults(out, flags);
        out.info(remote ? `connecting to ${id.slice(0, 12)}…` : `connecting to ${id.slice(0, 12)}… by id, through ${brokers.join(", ")}`);
        // startNode() does not wait for discovery (discoveryWait 0): only a plan that reads our NAT type does, below.
        node = await startNode({ ...nodeOptions(flags, watch?.logger), discoveryWait: 0 });
        if (!remote) {
          phase = "asking for the address";
          out.info(`asking ${brokers.join(", ")} for the address of ${id.slice(0, 12)}… (up to ${left()} ms)`);
          out.event("progress", { step: "fetch-address", peer: id, brokers });
          const t0 = Date.now();
          ticker = setInterval(() => out.info(`  still no answer from ${id.slice(0, 12)}… after ${Math.round((Date.now() - t0) / 1000)} s`), 5000);
          try {
            remote = await node.fetchAddress(id, brokers, { timeout: Math.max(1, left() - 100) }); // its own error (with what it saw) before the deadline
          } catch (err) {
            throw err instanceof TimeoutError ? explainFetchTimeout(err, id, brokers, watch, flags.timeout) : err;
          } finally {
            clearInterval(ticker);
          }
          out.info(`  got its address`);
        }
        // Ranking reads our own NAT type only for a peer that is neither near nor reachable: then let discovery finish (it is bounded).
        phase = "discovering our NAT and port mapping";
        await discoveryForPlan(node, remote);
        phase = `connecting to ${id.slice(0, 12)}…`;
        const pipe = await node.connect(remote, {
          brokers: flags.signal,
          timeout: left(),
          strategies: flags.via,
          onProgress: (event, detail) => {
            out.event("progress", { step: event, ...detail });
            const line = progressLine(progressEvent(event, detail));
            if (line) out.info(line);
          },
        });
        const ms = Date.now() - started;
        out.event("connected", { strategy: pipe.strategy, ms, remoteId: pipe.remoteId, remoteAddress: pipe.remoteAddress, relay: pipe.relay ?? null, trace: pipe.trace });
        out.info(`connected to ${pipe.remoteId.slice(0, 12)}… by ${pipe.strategy}${relayNote(pipe.relay)} in ${ms} ms`);
        reportPath(pipe, out, "the peer");
        const others = pipe.trace.filter((a) => a.outcome !== "won");
        if (others.length) out.info(`  also: ${others.map(describeAttempt).join("; ")}`);
        if (oneShot) {
          phase = "waiting for the reply";
          await pipe.send(payload!);
          let reply;
          try {
            reply = await pipe.recv({ timeout: left() });
          } catch (err) {
            if (err instanceof TimeoutError) throw new TimeoutError(`no reply within ${flags.timeout} ms (--timeout): connected and sent, but the peer did not answer (does it reply? e.g. listen --echo)`, { cause: err });
            throw err;
          }
          budget.done();
          out.event("message", messageFields(reply));
          if (reply.isText && !flags.binary) out.data(reply.text);
          else out.bytes(reply.data);
          await pipe.close();
        } else {
          budget.done(); // --timeout limits connecting; the session lasts as long as stdin and the peer
          const code = await netcat(pipe, out, !!flags.binary);
          process.exitCode = code;
        }
        out.event("closed");
      } catch (err) {
        budget?.done();
        clearInterval(ticker);
        await node?.close();
        if (err instanceof CliExit) throw err;
        out.fail(err);
      }
      budget?.done();
      await node?.close();
    });
}
