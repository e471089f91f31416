// Runs only our two commands (the lead wires them into src/cli.ts): node --import tsx test/nat/cli-fixture.ts stun ...
import { Command } from "commander";
import { register as registerNat } from "../../src/cli/nat.ts";
import { register as registerStun } from "../../src/cli/stun.ts";
import { CliExit } from "../../src/cli/output.ts";

const program = new Command().name("p2pnode").exitOverride();
registerStun(program);
registerNat(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CliExit)) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
