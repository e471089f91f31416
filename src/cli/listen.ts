import type { Command } from "commander";
import { describeAddress } from "../address.ts";
import type { Message } from "../message.ts";
import { startNode, type NodeOptions } from "../node.ts";
import { collect, createOutput, intArg, outputFlags, untilSignal, type Output } from "./output.ts";

export interface CommonNodeFlags {
  port?: number;
  host?: string[];
  identity?: string;
  stun?: string[];
  signal?: string[];
  portmap?: boolean;
  json?: boolean;
  log?: string;
}

/** Adds the options every node-running command shares. */
export function nodeFlags(cmd: Command): Command {
  return outputFlags(cmd)
    .option("-p, --port <port>", "TCP port to listen on (0 = any free port)", intArg("--port"), 0)
    .option("--host <ip>", "listen only on this address (repeatable; default: every interface)", collect)
    .option("--identity <file>", "load the identity key from this PEM file (created, mode 0600, if missing)")
    .option("--stun <uri>", "STUN server, stun:host:port (repeatable)", collect)
    .option("--signal <url>", "signaling broker, mqtt://host:port (repeatable)", collect)
    .option("--no-portmap", "do not ask the gateway for a port mapping");
}

export function nodeOptions(f: CommonNodeFlags): NodeOptions {
  return {
    port: f.port,
    host: f.host,
    identityFile: f.identity,
    stun: f.stun,
    signaling: f.signal,
    portMapping: f.portmap !== false, // on by default for people; never on a loopback-only node
    logLevel: f.log as NodeOptions["logLevel"],
  };
}

/** A message as JSON fields: text as is, binary as base64. */
export function messageFields(msg: Message): Record<string, unknown> {
  return msg.isText ? { data: msg.text } : { data: Buffer.from(msg.data).toString("base64"), encoding: "base64" };
}

export function register(program: Command): void {
  nodeFlags(program.command("listen"))
    .description("run a node, print its address, and show what peers send")
    .option("--echo", "send every message back to its sender")
    .action(async (flags: CommonNodeFlags & { echo?: boolean }) => {
      const out: Output = createOutput(!!flags.json);
      let node;
      try {
        node = await startNode(nodeOptions(flags));
      } catch (err) {
        out.fail(err);
      }
      node.onMessage(async (msg, pipe) => {
        out.event("message", { from: pipe.remoteId, ...messageFields(msg) });
        out.info(`message from ${pipe.remoteId.slice(0, 12)}…: ${msg.isText ? msg.text : `<${msg.data.length} bytes>`}`);
        if (flags.echo) await pipe.send(msg.isText ? msg.text : msg.data);
      });
      node.on("pipe", (pipe) => {
        out.event("pipe", { remoteId: pipe.remoteId, strategy: pipe.strategy, remoteAddress: pipe.remoteAddress });
        out.info(`peer ${pipe.remoteId.slice(0, 12)}… connected (${pipe.strategy}) from ${pipe.remoteAddress}`);
        void pipe.closed.then((err) => {
          out.event("pipe-closed", { remoteId: pipe.remoteId, error: err?.message });
          out.info(`peer ${pipe.remoteId.slice(0, 12)}… disconnected${err ? `: ${err.message}` : ""}`);
        });
      });
      node.on("address", (addr) => out.event("address", { addr }));
      // The address to share should already say what we are behind and any mapping (both bounded in time).
      await Promise.all([node.natReady(), node.portMappingReady()]);
      out.event("ready", { id: node.id, addr: node.addr, port: node.port, address: describeAddress(node.address), nat: node.nat ?? null, portMapping: node.portMapping ?? null });
      out.info(`p2pnode listening on port ${node.port} as ${node.id}`);
      if (node.portMapping) out.info(`port mapping: ${node.portMapping.externalIp}:${node.portMapping.externalPort} by ${node.portMapping.method}${node.portMapping.verified ? " (verified from outside)" : " (not verified)"}`);
      if (node.nat) out.info(`NAT: TCP ${node.nat.tcp?.natType ?? "unknown"}, UDP ${node.nat.udp?.natType ?? "unknown"} (discovery took ${node.nat.durationMs} ms)`);
      node.on("nat", (report) => out.event("nat", { report }));
      out.info(`share this address with your peer:`);
      out.data(node.addr);
      const sig = await untilSignal();
      out.info(`${sig}: closing`);
      await node.close();
      out.event("closed");
    });
}
