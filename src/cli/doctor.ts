/**
 * `p2pnode doctor`: what this network allows, in the style of `tailscale
 * netcheck` — NAT kind per interface over UDP and TCP, the port-mapping
 * protocols of the gateway, each broker and TURN relay checked for real, and
 * what that means in plain words. Only the servers named on the command line
 * (and the gateway) are contacted. docs/doctor.md.
 */
import type { Command } from "commander";
import type { LogLevel } from "../util/logger.ts";
import { signalArg } from "./listen.ts";
import { collect, createOutput, guardStdio, intArg, orUsage, outputFlags, stunArg } from "./output.ts";
import { turnFlags, turnOptions, type TurnFlags } from "./turn-flags.ts";

interface DoctorFlags extends TurnFlags {
  stun?: string[];
  signal?: string[];
  local?: string[];
  gateway?: string;
  portmap: boolean;
  timeout: number;
  json?: boolean;
  log?: string;
}

const DOCTOR_EXIT = `
Exit codes:
  0  doctor: every configured server answered and worked (the verdicts may still warn)
  1  doctor: a configured server failed (STUN silent, broker unreachable, TURN allocation refused)
  2  usage: unknown option or bad option value (the message names it)`;

export function register(program: Command): void {
  const cmd = turnFlags(outputFlags(program.command("doctor"), "print the whole report as one JSON object"))
    .description("check this network: NAT kind per interface (UDP, TCP), port mapping, signaling brokers, TURN relays, and what it means")
    .option("--stun <uri>", "STUN server, stun:host[:port] (repeatable; no public server is built in)", stunArg)
    .option("--signal <url>", "signaling broker, mqtt://host:port (repeatable)", signalArg)
    .option("--local <ip>", "look through this local address only (repeatable; default every external interface)", collect)
    .option("--gateway <ip>", "probe this gateway for PCP / NAT-PMP / UPnP (default: the IPv4 default route's)")
    .option("--no-portmap", "do not probe the gateway for port mapping")
    .option("--timeout <ms>", "upper bound for each check", intArg("--timeout"), 3000)
    .action(async (flags: DoctorFlags) => {
      guardStdio();
      const out = createOutput(!!flags.json);
      const turn = orUsage(out, () => turnOptions(flags));
      const relay = flags.turnRelay === "auto" ? undefined : flags.turnRelay;
      // Loaded here, not at the top: `p2pnode --help` stays fast.
      const [{ gather }, { verdicts, exitCodeOf }, { formatDoctorReport }, { createLogger }] = await Promise.all([
        import("./doctor-gather.ts"),
        import("./doctor-verdicts.ts"),
        import("./doctor-format.ts"),
        import("../util/logger.ts"),
      ]);
      const ac = new AbortController();
      const onSignal = () => ac.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      const facts = await gather({
        stun: flags.stun ?? [],
        signal: flags.signal ?? [],
        turn: turn.turn ?? [],
        turnRelay: relay,
        local: flags.local,
        gateway: flags.portmap === false ? false : flags.gateway,
        timeoutMs: Math.max(100, flags.timeout),
        abort: ac.signal,
        logger: createLogger((flags.log ?? "silent") as LogLevel),
        progress: (line) => process.stderr.write(`doctor: ${line}\n`),
      })
        .catch((err: unknown) => out.fail(err))
        .finally(() => {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
        });
      const list = verdicts(facts);
      const exitCode = exitCodeOf(list);
      const report = { ...facts, verdicts: list, exitCode };
      if (out.json) process.stdout.write(JSON.stringify(report) + "\n");
      else out.data(formatDoctorReport(report));
      process.exitCode = exitCode;
    });
  cmd.addHelpText(
    "after",
    `${DOCTOR_EXIT}

Examples:
  $ p2pnode doctor --stun stun:HOST:3478 --signal mqtt://HOST:1883 --turn turn:HOST:3478 --turn-user alice   # password in P2PNODE_TURN_PASS
  $ p2pnode doctor --stun stun:127.0.0.1:3478 --signal mqtt://127.0.0.1:1883 --json
`,
  );
}
