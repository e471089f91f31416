/**
 * `p2pnode turn`: runs the embedded TURN relay (node-turn, UDP, long-term
 * credentials) until SIGINT/SIGTERM, for demos and tests. Real deployments
 * run coturn (docs/turn.md).
 */
import type { Command } from "commander";
import { InvalidArgumentError } from "../errors.ts";
import type { LogLevel } from "../util/logger.ts";
import { collect, createOutput, guardStdio, helpAfter, intArg, orUsage, outputFlags, untilSignal } from "./output.ts";
import { TURN_PASS_ENV } from "./turn-flags.ts";
import { listenHint } from "./hints.ts";

interface TurnCommandFlags {
  port: number;
  host: string;
  user?: string[];
  realm: string;
  json?: boolean;
  log?: string;
}

/** --user NAME:PASS, or NAME alone with the password in P2PNODE_TURN_PASS (kept out of the process list). */
export function relayUsers(list: readonly string[] | undefined, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (!list?.length) throw new InvalidArgumentError(`give at least one --user NAME:PASS (or --user NAME with the password in ${TURN_PASS_ENV})`);
  const users: Record<string, string> = Object.create(null);
  for (const entry of list) {
    const at = entry.indexOf(":");
    const name = at < 0 ? entry : entry.slice(0, at);
    const pass = at < 0 ? env[TURN_PASS_ENV] : entry.slice(at + 1);
    if (!name) throw new InvalidArgumentError(`--user needs a name before the colon (NAME:PASS)`);
    if (!pass) throw new InvalidArgumentError(`--user ${name} has no password: write NAME:PASS or set ${TURN_PASS_ENV}`);
    if (name in users) throw new InvalidArgumentError(`--user ${name} is given twice`);
    users[name] = pass;
  }
  return users;
}

export function register(program: Command): void {
  helpAfter(outputFlags(program.command("turn")), [
    `${TURN_PASS_ENV}=s3cret p2pnode turn --host 0.0.0.0 --user alice   # password kept out of the process list`,
    "p2pnode turn --port 3478 --user alice:demo-password   # then, on a node: --turn turn:127.0.0.1:3478 --turn-user alice",
  ])
    .description("run a TURN relay (UDP, long-term credentials) for demos and tests; nodes use it with --turn turn:HOST:PORT --turn-user NAME")
    .option("-p, --port <port>", "UDP port to listen on (0 = any free port)", intArg("--port"), 3478)
    .option("--host <ip>", "address to listen and relay on (0.0.0.0 for other machines)", "127.0.0.1")
    .option("--user <name:pass>", `a user the relay accepts (repeatable); NAME alone takes the password from ${TURN_PASS_ENV}`, collect)
    .option("--realm <realm>", "the long-term credential realm", "p2pnode")
    .action(async (flags: TurnCommandFlags) => {
      guardStdio();
      const out = createOutput(!!flags.json);
      const users = orUsage(out, () => relayUsers(flags.user));
      // Loaded here, not at the top: `p2pnode --help` stays fast.
      const [{ startEmbeddedRelay }, { createLogger }] = await Promise.all([import("../turn/embedded.ts"), import("../util/logger.ts")]);
      const relay = await startEmbeddedRelay({ host: flags.host, port: flags.port, users, realm: flags.realm, logger: createLogger(flags.log as LogLevel | undefined) }).catch(
        (err: unknown) => out.fail(listenHint(err)),
      );
      const names = Object.keys(users);
      const stopped = untilSignal(); // armed before "ready": whoever reads it may stop us at once
      out.event("ready", { url: relay.url, host: relay.host, port: relay.port, transport: "udp", users: names });
      out.data(`TURN relay ready: ${relay.url} (UDP; users: ${names.join(", ")})`);
      out.info(`use it from a node: p2pnode listen --turn ${relay.url} --turn-user ${names[0]} (password in ${TURN_PASS_ENV} or --turn-pass-file); Ctrl-C to stop`);
      const sig = await stopped;
      await relay.close();
      out.event("closed", { signal: sig });
      out.info(`closed (${sig})`);
    });
}
