/** The p2pnode command line: `p2pnode --help`. */
import { Command, CommanderError } from "commander";
import { register as registerConnect } from "./cli/connect.ts";
import { register as registerListen } from "./cli/listen.ts";
import { register as registerNat } from "./cli/nat.ts";
import { register as registerSignal } from "./cli/signal.ts";
import { register as registerStun } from "./cli/stun.ts";
import { CliExit } from "./cli/output.ts";

const program = new Command()
  .name("p2pnode")
  .description("Connect two peers anywhere: direct, reverse, TCP hole punching, TURN — over an authenticated, encrypted pipe.")
  .version("0.1.0")
  .showHelpAfterError()
  .exitOverride();

registerListen(program);
registerConnect(program);
registerNat(program);
registerStun(program);
registerSignal(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CliExit) {
    // already printed
  } else if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
