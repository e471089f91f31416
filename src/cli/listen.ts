import type { Command } from "commander";
import type { Message } from "../pipe/message.ts";
import type { RelayPath } from "../pipe/types.ts";
import type { NodeOptions } from "../node.ts";
import { createWriteStream, type WriteStream } from "node:fs";
import { InvalidArgumentError } from "../errors.ts";
import type { Logger, LogLevel } from "../util/logger.ts";
import type { NatReport } from "../nat/types.ts";
import { parseBrokerUrl } from "../signaling/broker-url.ts";
import { turnFlags, turnOptions, type TurnFlags } from "./turn-flags.ts";
import { reportPath } from "./progress.ts";
import { listenHint } from "./hints.ts";
import { collect, createOutput, guardStdio, orUsage, helpAfter, hostPort, intArg, outputFlags, stunArg, untilSignal, type Output } from "./output.ts";

export interface CommonNodeFlags extends TurnFlags {
  port?: number;
  host?: string[];
  identity?: string;
  stun?: string[];
  signal?: string[];
  portmap?: boolean;
  allowPrivate?: boolean;
  json?: boolean;
  log?: string;
}

/** Adds the options every node-running command shares. */
export function nodeFlags(cmd: Command): Command {
  const flags = outputFlags(cmd)
    .option("-p, --port <port>", "TCP port to listen on (0 = any free port)", intArg("--port"), 0)
    .option("--host <ip>", "listen only on this address (repeatable; default: every interface)", collect)
    .option("--identity <file>", "load the identity key from this PEM file (created, mode 0600, if missing)")
    .option("--stun <uri>", "STUN server, stun:host:port (repeatable)", stunArg)
    .option("--signal <url>", "signaling broker, mqtt://host:port (repeatable)", signalArg)
    .option("--no-portmap", "do not ask the gateway for a port mapping")
    .option("--allow-private", "trust private and loopback endpoints and relays that peers send (one LAN, tests); off: public ones only");
  return turnFlags(flags);
}

/** --signal URL: checked when the command line is read. */
export function signalArg(value: string, previous: string[] = []): string[] {
  const v = parseBrokerUrl(value.trim());
  if (!v.ok) throw new InvalidArgumentError(`--signal ${JSON.stringify(value)} is not a broker URL (${v.reason}); expected mqtt://host:port, mqtts://, ws:// or wss://`);
  return collect(value.trim(), previous);
}

export function nodeOptions(f: CommonNodeFlags, logger?: Logger): NodeOptions {
  return {
    logger,
    port: f.port,
    host: f.host,
    identityFile: f.identity,
    stun: f.stun,
    signaling: f.signal,
    portMapping: f.portmap !== false, // on by default for people; never on a loopback-only node
    allowPrivate: f.allowPrivate,
    logLevel: logger ? undefined : (f.log as NodeOptions["logLevel"]),
    ...turnOptions(f),
  };
}

/** " through turn:… (UDP)" for a relayed pipe, "" otherwise. */
export function relayNote(relay: RelayPath | undefined): string {
  return relay ? ` through ${relay.server ?? `relay ${relay.relayed}`} (${relay.transport.toUpperCase()} relay)` : "";
}

/** Longest text message shown whole on the terminal; longer ones are cut (the data is in --json / --out). */
export const SHOW_MAX_CHARS = 2000;

/** A message for the terminal: short text whole, long text cut with a note, binary as its size. */
export function showMessage(msg: Message): string {
  if (!msg.isText) return `<${msg.data.length} bytes of binary data; full data with --json or --out FILE>`;
  const t = msg.text;
  if (t.length <= SHOW_MAX_CHARS && !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(t)) return t;
  const cut = t.slice(0, 200).replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "\ufffd");
  return `${cut}… [${msg.data.length} bytes in all, shown cut; full data with --json or --out FILE]`;
}

/** One line about a NAT report: kinds, and why a kind is unknown. */
export function natLine(nat: NatReport): string {
  const one = (t: NatReport["udp"]) => {
    if (!t) return "not tested";
    const down = t.unreachable?.length ? ` (STUN server unreachable: ${t.unreachable.join(", ")})` : "";
    return `${t.natType}${down}`;
  };
  return `NAT: TCP ${one(nat.tcp)}, UDP ${one(nat.udp)} (discovery took ${nat.durationMs} ms)`;
}

/** Says on the terminal what a node without --host does by default: listen everywhere, map a port. */
export function announceDefaults(out: Output, f: CommonNodeFlags): void {
  if (!f.host?.length) out.info(`listening on every interface (all IPv4 and IPv6 addresses); --host IP to listen on one`);
  if (f.portmap !== false && !f.host?.every((h) => /^(127\.|::1$|localhost$)/.test(h))) {
    out.info(`asking the gateway to forward the port (UPnP / NAT-PMP / PCP); --no-portmap to skip`);
  }
}

/** A message as JSON fields: text as is, binary as base64. */
export function messageFields(msg: Message): Record<string, unknown> {
  return msg.isText ? { data: msg.text } : { data: Buffer.from(msg.data).toString("base64"), encoding: "base64" };
}

export function register(program: Command): void {
  helpAfter(nodeFlags(program.command("listen")), [
    "p2pnode listen --echo                                   # print the address; echo what peers send",
    "p2pnode listen --host 127.0.0.1 --no-portmap            # this machine only, no gateway mapping",
    "p2pnode listen --identity node.pem --signal mqtts://HOST:8883   # the same node id every run; reachable by id",
    "p2pnode listen --stun stun:HOST:3478 --signal mqtt://HOST:1883 --out received.bin",
  ])
    .description("run a node, print its address, and show what peers send (without --host: every interface, and a port mapping is asked of the gateway)")
    .option("--echo", "send every message back to its sender")
    .option("--out <file>", "append the data of every message, unaltered, to this file")
    .action(async (flags: CommonNodeFlags & { echo?: boolean; out?: string }) => {
      guardStdio();
      // Loaded here, not at the top: `p2pnode --help` stays fast.
      const [{ startNode }, { describeAddress }, { humanError, watchBrokers }] = await Promise.all([import("../node.ts"), import("../identity/address.ts"), import("./watch.ts")]);
      const out: Output = createOutput(!!flags.json);
      const watch = flags.signal?.length ? watchBrokers(out, flags.log as LogLevel | undefined) : undefined;
      let sink: WriteStream | undefined;
      if (flags.out) {
        sink = createWriteStream(flags.out, { flags: "a" });
        sink.on("error", (err) => out.warn(`cannot write to ${flags.out}: ${err.message}; messages are no longer saved`));
      }
      announceDefaults(out, flags);
      const options = orUsage(out, () => nodeOptions(flags, watch?.logger));
      let node;
      try {
        node = await startNode(options);
      } catch (err) {
        out.fail(listenHint(err));
      }
      node.onMessage(async (msg, pipe) => {
        out.event("message", { from: pipe.remoteId, ...messageFields(msg) });
        sink?.write(msg.data);
        out.info(`message from ${pipe.remoteId.slice(0, 12)}…: ${showMessage(msg)}`);
        if (flags.echo) await pipe.send(msg.isText ? msg.text : msg.data);
      });
      node.on("pipe", (pipe) => {
        out.event("pipe", { remoteId: pipe.remoteId, strategy: pipe.strategy, remoteAddress: pipe.remoteAddress, relay: pipe.relay ?? null });
        out.info(`peer ${pipe.remoteId.slice(0, 12)}… connected (${pipe.strategy}${relayNote(pipe.relay)}) from ${pipe.remoteAddress ? hostPort(pipe.remoteAddress, pipe.remotePort ?? "?") : "?"}`);
        reportPath(pipe, out, `peer ${pipe.remoteId.slice(0, 12)}…`);
        void pipe.closed.then((err) => {
          out.event("pipe-closed", { remoteId: pipe.remoteId, error: err?.message });
          out.info(`peer ${pipe.remoteId.slice(0, 12)}… disconnected${err ? `: ${err.message}` : ""}`);
        });
      });
      node.on("address", (addr) => out.event("address", { addr }));
      // The address to share should already say what we are behind and any mapping (both bounded in time).
      await Promise.all([node.natReady(), node.portMappingReady()]);
      const stopped = untilSignal(); // armed before "ready" and the address go out: whoever reads them may stop us at once
      out.event("ready", { id: node.id, addr: node.addr, port: node.port, address: describeAddress(node.address), nat: node.nat ?? null, portMapping: node.portMapping ?? null });
      out.info(`p2pnode listening on port ${node.port} as ${node.id}`);
      if (node.portMapping) out.info(`port mapping: ${node.portMapping.externalIp}:${node.portMapping.externalPort} by ${node.portMapping.method}${node.portMapping.verified ? " (verified from outside)" : " (not verified)"}`);
      else if (flags.portmap !== false && !flags.host?.every((h) => /^(127\.|::1$|localhost$)/.test(h))) out.info(`no port mapping: no gateway offered one`);
      if (node.nat) {
        out.info(natLine(node.nat));
        for (const t of [node.nat.tcp, node.nat.udp]) {
          if (t?.unreachable?.length) out.warn(`STUN server ${t.unreachable.join(", ")} refused ${t.transport.toUpperCase()} (${humanError("ECONNREFUSED")}): the network is open but the server is down or on another port; ${t.transport.toUpperCase()} NAT kind unknown`);
        }
      } else if (flags.stun?.length) out.warn(`NAT discovery gave no report; the address says NAT kind unknown`);
      node.on("nat", (report) => out.event("nat", { report }));
      out.info(`share this address with your peer:`);
      out.data(node.addr);
      const sig = await stopped;
      out.info(`${sig === "EPIPE" ? "stdout closed" : sig}: closing`);
      await node.close();
      sink?.end();
      out.event("closed");
    });
}
