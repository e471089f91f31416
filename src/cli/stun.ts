/** `p2pnode stun`: runs the embedded STUN server (RFC 5780 capable with --alt-host/--alt-port) until SIGINT/SIGTERM. */
import type { Command } from "commander";
import type { LogLevel } from "../util/logger.ts";
import { formatAddress } from "../stun/ip.ts";
import { createOutput, intArg, untilSignal, outputFlags } from "./output.ts";
import { listenHint } from "./hints.ts";

interface StunFlags {
  port: number;
  host: string;
  altHost?: string;
  altPort?: number;
  udp: boolean;
  tcp: boolean;
  json?: boolean;
  log?: string;
}

const uri = (a: { address: string; port: number }) => `stun:${formatAddress(a)}`;

export function register(program: Command): void {
  outputFlags(program.command("stun"))
    .description("run a STUN server (UDP+TCP; with --alt-host/--alt-port it answers RFC 5780 tests and TCP dial-backs)")
    .option("-p, --port <port>", "primary port (0 = any free port)", intArg("--port"), 3478)
    .option("--host <ip>", "primary IP to listen on", "127.0.0.1")
    .option("--alt-host <ip>", "alternate IP (e.g. 127.0.0.2 on Linux loopback)")
    .option("--alt-port <port>", "alternate port (0 = any free port)", intArg("--alt-port"))
    .option("--no-udp", "do not serve UDP")
    .option("--no-tcp", "do not serve TCP")
    .action(async (flags: StunFlags) => {
      const out = createOutput(!!flags.json);
      // Loaded here, not at the top: `p2pnode --help` stays fast.
      const [{ StunServer }, { createLogger }] = await Promise.all([import("../stun/server.ts"), import("../util/logger.ts")]);
      const server = await StunServer.listen({
        host: flags.host,
        port: flags.port,
        altHost: flags.altHost,
        altPort: flags.altPort,
        udp: flags.udp,
        tcp: flags.tcp,
        logger: createLogger(flags.log as LogLevel | undefined),
      }).catch((err: unknown) => out.fail(listenHint(err)));
      const a = server.addresses;
      const stopped = untilSignal(); // armed before "ready": whoever reads it may stop us at once
      out.event("ready", { uri: uri(a.primary), primary: a.primary, other: a.other ?? null, addresses: a.all, udp: flags.udp, tcp: flags.tcp });
      out.data(`STUN server ready: ${uri(a.primary)}${a.other ? ` (RFC 5780: other address ${formatAddress(a.other)})` : ""}`);
      out.info(`serving ${[flags.udp && "UDP", flags.tcp && "TCP"].filter(Boolean).join("+")} on ${a.all.map(formatAddress).join(", ")}; Ctrl-C to stop`);
      const sig = await stopped;
      await server.close();
      out.event("closed", { signal: sig, stats: server.stats });
      out.info(`closed (${sig})`);
    });
}
