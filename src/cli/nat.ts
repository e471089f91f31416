/** `p2pnode nat`: NAT discovery against the STUN servers you name. */
import type { Command } from "commander";
import { InvalidArgumentError } from "../errors.ts";
import type { LogLevel } from "../util/logger.ts";
import type { Transport } from "../nat/types.ts";
import { serversByFamily } from "../nat/family.ts";
import { collect, createOutput, guardStdio, helpAfter, intArg, outputFlags, stunArg } from "./output.ts";

export { formatNatReport } from "../nat/format.ts";
import { formatNatReport } from "../nat/format.ts";

interface NatFlags {
  stun?: string[];
  json?: boolean;
  timeout: number;
  local?: string;
  transport?: string[];
  log?: string;
}

export function register(program: Command): void {
  helpAfter(outputFlags(program.command("nat"), "print the report as one JSON line"), [
    "p2pnode nat --stun stun:HOST:3478",
    "p2pnode nat --stun stun:127.0.0.1:3478 --transport udp --json",
    "p2pnode nat --stun stun:HOST:3478 --stun stun:[IPV6]:3478   (both families, one report each)",
  ])
    .description("discover NAT type, mapping/filtering behaviour and public address (RFC 5780) over UDP and TCP")
    .option("--stun <uri>", "STUN server as stun:host[:port] (repeatable; no public server is built in)", stunArg)
    .option("--timeout <ms>", "upper bound for the whole discovery", intArg("--timeout"), 2000)
    .option("--local <ip>", "local IP to bind (decides IPv4 or IPv6)")
    .option("--transport <udp|tcp>", "only this transport (repeatable)", collect)
    .action(async (flags: NatFlags) => {
      guardStdio();
      const out = createOutput(!!flags.json);
      if (!flags.stun?.length) out.fail(new InvalidArgumentError("give at least one --stun stun:host[:port]; p2pnode has no built-in public servers"));
      // Ctrl-C stops discovery early (AbortError) instead of killing mid-report.
      // Loaded here, not at the top: `p2pnode --help` stays fast.
      const [{ discoverNat }, { createLogger }] = await Promise.all([import("../nat/discovery.ts"), import("../util/logger.ts")]);
      const ac = new AbortController();
      const onSignal = () => ac.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      // With IPv4 and IPv6 servers (and no --local), one run per family, at once: each
      // family has its own verdict (IPv6: no NAT, but maybe a stateful firewall).
      const split = serversByFamily(flags.stun!);
      const runs = !flags.local && split[4].length && split[6].length ? [split[4], split[6]] : [flags.stun!];
      const reports = await Promise.all(
        runs.map((servers) =>
          discoverNat({
            servers,
            timeout: flags.timeout,
            localAddress: flags.local,
            transports: flags.transport as Transport[] | undefined,
            signal: ac.signal,
            logger: createLogger(flags.log as LogLevel | undefined),
          }),
        ),
      )
        .catch((err: unknown) => out.fail(err))
        .finally(() => {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
        });
      for (const report of reports) out.event("report", { report });
      out.data(reports.map(formatNatReport).join("\n\n"));
    });
}
