/** The p2pnode command line: `p2pnode --help`. */
import { Command, CommanderError } from "commander";
import { register as registerConnect } from "./cli/connect.ts";
import { register as registerDoctor } from "./cli/doctor.ts";
import { register as registerListen } from "./cli/listen.ts";
import { register as registerNat } from "./cli/nat.ts";
import { register as registerReceive } from "./cli/receive.ts";
import { register as registerSend } from "./cli/send.ts";
import { register as registerSignal } from "./cli/signal.ts";
import { register as registerStun } from "./cli/stun.ts";
import { register as registerTurn } from "./cli/turn.ts";
import { CliExit, EXIT, guardStdio, helpAfter } from "./cli/output.ts";
import { isP2PError } from "./errors.ts";

// Before anything is printed: `p2pnode --help | head -1` closes stdout under commander's help text too.
guardStdio();

const program = new Command()
  .name("p2pnode")
  .description("Connect two peers behind NATs — direct, reverse connect, TCP hole punching, TURN relay — over an authenticated, encrypted pipe.")
  .version("0.1.0")
  .showHelpAfterError()
  .exitOverride();

registerListen(program);
registerConnect(program);
registerSend(program);
registerReceive(program);
registerNat(program);
registerStun(program);
registerSignal(program);
registerTurn(program);
registerDoctor(program);
helpAfter(program, ["p2pnode listen --echo", "p2pnode connect p2pn1… --send hi", "p2pnode connect --help"]);
// `stun` is registered by src/cli/stun.ts; its examples are added here.
const stun = program.commands.find((c) => c.name() === "stun");
if (stun) helpAfter(stun, ["p2pnode stun --port 3478 --alt-host 127.0.0.2 --alt-port 3479", "p2pnode nat --stun stun:127.0.0.1:3478"]);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CliExit) {
    // already printed
  } else if (err instanceof CommanderError) {
    // Help and --version exit 0; unknown options, missing arguments: usage errors.
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else {
    // Thrown while reading the command line (option parsers): a usage error.
    const usage = isP2PError(err) && err.code === "P2P_ERR_INVALID_ARGUMENT";
    process.stderr.write(`error: ${(err as Error).message}${usage ? "" : ` [${isP2PError(err) ? err.code : "P2P_ERR_UNKNOWN"}]`}\n`);
    process.exitCode = usage ? EXIT.usage : EXIT.error;
  }
}
