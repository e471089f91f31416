/** `p2pnode send FILE… --to ADDR|ID`: send files to a `p2pnode receive` (docs/transfer.md). */
import type { Command } from "commander";
import { InvalidArgumentError, TimeoutError } from "../errors.ts";
import type { LogLevel } from "../util/logger.ts";
import type { Node } from "../node.ts";
import type { NodeAddress } from "../identity/address.ts";
import { progressEvent } from "../connect/progress.ts";
import { CliExit, createOutput, EXIT, guardStdio, helpAfter, intArg, orUsage } from "./output.ts";
import { announceDefaults, nodeFlags, nodeOptions, relayNote, type CommonNodeFlags } from "./listen.ts";
import { progressLine, reportPath } from "./progress.ts";
import { turnOptions } from "./turn-flags.ts";
import { transferExit, transferReporter } from "./transfer-output.ts";
import { formatBytes } from "../transfer/meter.ts";

interface SendFlags extends CommonNodeFlags {
  to?: string;
  timeout: number;
  idleTimeout: number;
}

export function register(program: Command): void {
  helpAfter(nodeFlags(program.command("send")), [
    "p2pnode send photo.jpg notes.pdf --to p2pn1…              # the address `p2pnode receive` printed",
    "p2pnode send big.iso --to NODE_ID --signal mqtt://HOST:1883 --stun stun:HOST:3478",
    "p2pnode send big.iso --to p2pn1… --json                   # one JSON line per event",
  ])
    .argument("<files...>", "the files to send (each arrives under its own name)")
    .description("send files to a peer running `p2pnode receive`: SHA-256 verified, an interrupted transfer resumes when run again")
    .option("--to <addr>", "the receiver's address (p2pn1…), or its node id with --signal")
    .option("--timeout <ms>", "limit for connecting to the receiver", intArg("--timeout"), 20_000)
    .option("--idle-timeout <ms>", "give up when the receiver takes or says nothing for this long", intArg("--idle-timeout"), 60_000)
    .action(async (paths: string[], flags: SendFlags) => {
      guardStdio();
      const out = createOutput(!!flags.json);
      const [{ startNode }, { parseAddress }, { isNodeId }, { watchBrokers }, { describeFiles, sendFiles }] = await Promise.all([
        import("../node.ts"),
        import("../identity/address.ts"),
        import("../identity/identity.ts"),
        import("./watch.ts"),
        import("../transfer/index.ts"),
      ]);
      orUsage(out, () => {
        turnOptions(flags);
        if (!flags.to) throw new InvalidArgumentError("send needs --to ADDR: the address (p2pn1…) that `p2pnode receive` printed on the other machine");
        if (flags.timeout < 1 || flags.idleTimeout < 1) throw new InvalidArgumentError("--timeout and --idle-timeout must be at least 1 ms");
      });
      const target = flags.to!.trim();
      const brokers = flags.signal ?? [];
      let node: Node | undefined;
      const report = transferReporter(out, "sent");
      try {
        let remote: NodeAddress | undefined;
        if (isNodeId(target.toLowerCase())) {
          if (!brokers.length) throw new InvalidArgumentError("--to NODE_ID needs the signaling broker the receiver uses: add --signal mqtt://HOST:PORT (or give its full p2pn1… address)");
        } else remote = parseAddress(target);
        // The files are checked and hashed before any network: a typo fails at once.
        out.info(`hashing ${paths.length} file${paths.length === 1 ? "" : "s"}…`);
        const files = await describeFiles(paths);
        out.event("files", { files: files.map(({ name, size, sha256 }) => ({ name, size, sha256 })) });
        out.info(`  ${formatBytes(files.reduce((n, f) => n + f.size, 0))} in all`);

        const started = Date.now();
        const left = () => Math.max(1, started + flags.timeout - Date.now());
        const watch = brokers.length ? watchBrokers(out, flags.log as LogLevel | undefined) : undefined;
        announceDefaults(out, flags);
        node = await startNode(nodeOptions(flags, watch?.logger));
        await Promise.all([node.natReady(), node.portMappingReady()]);
        const id = remote?.id ?? target.toLowerCase();
        if (!remote) {
          out.info(`asking ${brokers.join(", ")} for the address of ${id.slice(0, 12)}…`);
          remote = await node.fetchAddress(id, brokers, { timeout: left() });
        }
        out.info(`connecting to ${id.slice(0, 12)}…`);
        const pipe = await node.connect(remote, {
          brokers: flags.signal,
          timeout: left(),
          onProgress: (event, detail) => {
            out.event("progress", { step: event, ...detail });
            const line = progressLine(progressEvent(event, detail));
            if (line) out.info(line);
          },
        });
        out.event("connected", { strategy: pipe.strategy, ms: Date.now() - started, remoteId: pipe.remoteId, relay: pipe.relay ?? null });
        out.info(`connected to ${pipe.remoteId.slice(0, 12)}… by ${pipe.strategy}${relayNote(pipe.relay)}`);
        reportPath(pipe, out, "the receiver");
        const result = await sendFiles(pipe, files, { timeout: flags.idleTimeout, onEvent: report.onEvent });
        report.done(result);
        await pipe.close();
      } catch (err) {
        report.stop();
        await node?.close();
        if (err instanceof CliExit) throw err;
        const e = err instanceof TimeoutError && !/resume/.test(err.message) ? new TimeoutError(`${err.message}; check the address and that \`p2pnode receive\` is still running (raise --timeout on slow networks)`, { cause: err }) : err;
        out.fail(e, transferExit(err));
      }
      await node?.close();
      process.exitCode = EXIT.ok;
    });
}
