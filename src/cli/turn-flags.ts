/**
 * The TURN flags of listen and connect: `--turn URI` (repeatable) with
 * `--turn-user NAME`, and the password from P2PNODE_TURN_PASS or
 * `--turn-pass-file FILE`, never from the command line, where every user of
 * the machine can read it in the process list.
 */
import { readFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { InvalidArgumentError } from "../errors.ts";
import type { TurnServerConfig } from "../turn/uri.ts";
import { parseTurnUri } from "../turn/uri.ts";
import { collect } from "./output.ts";

export interface TurnFlags {
  turn?: string[];
  turnUser?: string;
  turnPassFile?: string;
  turnRelay?: "auto" | "tcp" | "udp";
}

export const TURN_PASS_ENV = "P2PNODE_TURN_PASS";

/** --turn URI: checked when the command line is read (a URI with credentials in it is refused unechoed). */
function turnArg(value: string, previous: string[] = []): string[] {
  parseTurnUri(value);
  return collect(value.trim(), previous);
}

function relayArg(value: string): TurnFlags["turnRelay"] {
  const v = value.trim().toLowerCase();
  if (v !== "auto" && v !== "tcp" && v !== "udp") throw new InvalidArgumentError(`--turn-relay must be auto, tcp or udp (got ${JSON.stringify(value)})`);
  return v;
}

/** A password on the command line is refused with the two ways that keep it out of `ps`. */
function refusePass(): never {
  throw new InvalidArgumentError(`a TURN password on the command line is visible to every user in the process list: set ${TURN_PASS_ENV} or use --turn-pass-file FILE`);
}

export function turnFlags(cmd: Command): Command {
  return cmd
    .option("--turn <uri>", "our TURN relay, turn:host:port[?transport=tcp] or turns:host:port (repeatable; all share one user)", turnArg)
    .option("--turn-user <name>", `TURN user name (the password comes from ${TURN_PASS_ENV} or --turn-pass-file)`)
    .option("--turn-pass-file <file>", "read the TURN password from this file (first line)")
    .option("--turn-relay <kind>", "relayed transport: auto (TCP allocation where the URI is TCP/TLS), tcp or udp", relayArg)
    .addOption(new Option("--turn-pass <password>").hideHelp().argParser(refusePass));
}

/** The `turn` node options the flags describe; InvalidArgumentError says what is missing. */
export function turnOptions(f: TurnFlags, env: NodeJS.ProcessEnv = process.env): { turn?: TurnServerConfig[]; turnOptions?: { relay: "auto" | "tcp" | "udp" } } {
  if (!f.turn?.length) {
    if (f.turnUser || f.turnPassFile || f.turnRelay) throw new InvalidArgumentError("--turn-user, --turn-pass-file and --turn-relay need --turn turn:HOST:PORT");
    return {};
  }
  if (!f.turnUser) throw new InvalidArgumentError(`--turn needs --turn-user NAME (and the password in ${TURN_PASS_ENV} or --turn-pass-file)`);
  let credential: string | undefined;
  if (f.turnPassFile) {
    let text: string;
    try {
      text = readFileSync(f.turnPassFile, "utf8");
    } catch (err) {
      throw new InvalidArgumentError(`cannot read --turn-pass-file ${f.turnPassFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    credential = text.split(/\r?\n/)[0];
    if (!credential) throw new InvalidArgumentError(`--turn-pass-file ${f.turnPassFile} is empty: its first line is the password`);
  } else {
    credential = env[TURN_PASS_ENV];
    if (!credential) throw new InvalidArgumentError(`--turn-user ${f.turnUser} needs a password: set ${TURN_PASS_ENV} or use --turn-pass-file FILE`);
  }
  return { turn: [{ urls: f.turn, username: f.turnUser, credential }], turnOptions: f.turnRelay ? { relay: f.turnRelay } : undefined };
}
