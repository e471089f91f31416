/**
 * `p2pnode receive [--out DIR]`: listen, print the address, receive one
 * transfer into DIR and exit. A sender that goes away leaves a partial file;
 * the command keeps listening, and the sender's next run resumes it.
 */
import type { Command } from "commander";
import type { LogLevel } from "../util/logger.ts";
import type { Pipe } from "../pipe/pipe.ts";
import type { TransferResult } from "../transfer/types.ts";
import { PipeClosedError } from "../errors.ts";
import { CliExit, createOutput, EXIT, guardStdio, helpAfter, hostPort, intArg, orUsage, untilSignal, type Output } from "./output.ts";
import { announceDefaults, natLine, nodeFlags, nodeOptions, relayNote, type CommonNodeFlags } from "./listen.ts";
import { reportPath } from "./progress.ts";
import { transferExit, transferReporter } from "./transfer-output.ts";

interface ReceiveFlags extends CommonNodeFlags {
  out: string;
  idleTimeout: number;
  maxSize?: number;
}

type Outcome = { ok: true; result: TransferResult } | { ok: false; err: unknown };

/**
 * One transfer at a time: a pipe that arrives while one runs is turned away,
 * unless the running one's path is lost (its sender was killed and is back):
 * then the old pipe is dropped and the new one resumes.
 */
function sessions(out: Output, run: (pipe: Pipe) => Promise<TransferResult>, onEnd: (o: Outcome) => void) {
  let current: { pipe: Pipe; ended: Promise<void> } | undefined;
  return async (pipe: Pipe) => {
    const who = `sender ${pipe.remoteId.slice(0, 12)}…`;
    if (current && !current.pipe.suspended && current.pipe.state === "open") {
      out.warn(`${who} connected while a transfer runs: turned away`);
      await pipe.destroy(new PipeClosedError("the receiver is busy with another transfer"));
      return;
    }
    if (current) {
      out.info(`${who} connected again: dropping the lost connection and resuming`);
      void current.pipe.destroy(new PipeClosedError("replaced by the sender's new connection"));
      await current.ended;
    }
    out.event("pipe", { remoteId: pipe.remoteId, strategy: pipe.strategy, relay: pipe.relay ?? null });
    out.info(`${who} connected (${pipe.strategy}${relayNote(pipe.relay)}) from ${pipe.remoteAddress ? hostPort(pipe.remoteAddress, pipe.remotePort ?? "?") : "?"}`);
    reportPath(pipe, out, who);
    const me = {
      pipe,
      ended: run(pipe).then(
        (result) => onEnd({ ok: true, result }),
        (err) => onEnd({ ok: false, err }),
      ),
    };
    current = me;
    await me.ended;
    if (current === me) current = undefined;
  };
}

export function register(program: Command): void {
  helpAfter(nodeFlags(program.command("receive")), [
    "p2pnode receive --out ~/Downloads                      # prints the address to give the sender",
    "p2pnode receive --out . --stun stun:HOST:3478 --signal mqtt://HOST:1883",
    "p2pnode receive --json | head -1                       # the ready event, with the address",
  ])
    .description("listen, print this node's address, and receive the files a `p2pnode send` sends into --out (SHA-256 verified; partial files resume)")
    .option("--out <dir>", "save the files here, and nowhere else", ".")
    .option("--idle-timeout <ms>", "give up on a sender that sends nothing for this long", intArg("--idle-timeout"), 60_000)
    .option("--max-size <bytes>", "refuse offers larger than this in all", intArg("--max-size"))
    .action(async (flags: ReceiveFlags) => {
      guardStdio();
      const out = createOutput(!!flags.json);
      const [{ startNode }, { watchBrokers }, { receiveFiles }, { outDir }] = await Promise.all([
        import("../node.ts"),
        import("./watch.ts"),
        import("../transfer/index.ts"),
        import("../transfer/disk.ts"),
      ]);
      // The output directory is checked before anything listens: an unwritable one fails now, not mid-transfer.
      try {
        await outDir(flags.out);
      } catch (err) {
        out.fail(err);
      }
      const watch = flags.signal?.length ? watchBrokers(out, flags.log as LogLevel | undefined) : undefined;
      announceDefaults(out, flags);
      const options = orUsage(out, () => nodeOptions(flags, watch?.logger));
      const node = await startNode(options).catch((err: unknown) => out.fail(err));
      let finish!: (o: Outcome | "signal") => void;
      const finished = new Promise<Outcome | "signal">((r) => (finish = r));
      const receive = (pipe: Pipe) => {
        const report = transferReporter(out, "received");
        return receiveFiles(pipe, { dir: flags.out, timeout: flags.idleTimeout, maxTotalSize: flags.maxSize, onEvent: report.onEvent }).then(
          (r) => (report.done(r), r),
          (err) => {
            report.stop();
            throw err;
          },
        );
      };
      const onPipe = sessions(out, receive, (o) => {
        if (o.ok || transferExit(o.err) !== EXIT.peerGone) return finish(o);
        // The sender went away: its partial file stays, and its next run resumes it.
        out.event("interrupted", { error: (o.err as Error).message });
        out.warn(`the sender went away; the partial file is kept in ${flags.out}: run the same send again to resume (waiting; Ctrl-C to stop)`);
      });
      node.on("pipe", (pipe) => void onPipe(pipe));
      await Promise.all([node.natReady(), node.portMappingReady()]);
      void untilSignal().then(() => finish("signal"));
      out.event("ready", { id: node.id, addr: node.addr, port: node.port, out: flags.out, nat: node.nat ?? null });
      out.info(`p2pnode receiving into ${flags.out} on port ${node.port} as ${node.id}`);
      if (node.nat) out.info(natLine(node.nat));
      out.info(`on the sending machine run: p2pnode send FILE… --to ${node.addr.slice(0, 16)}… (the whole address below)`);
      out.data(node.addr);
      const end = await finished;
      try {
        if (end === "signal") {
          out.info("stopped; partial files are kept for a resume");
          out.event("closed");
        } else if (!end.ok) {
          out.fail(end.err, transferExit(end.err));
        } else {
          out.event("closed");
        }
      } catch (err) {
        await Promise.all([...node.pipes].map((p) => p.close()));
        await node.close();
        if (err instanceof CliExit) throw err;
        throw err;
      }
      await Promise.all([...node.pipes].map((p) => p.close()));
      await node.close();
      process.exitCode = EXIT.ok;
    });
}
