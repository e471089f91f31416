/** `p2pnode signal`: runs the embedded MQTT signaling broker until SIGINT/SIGTERM. */
import type { Command } from "commander";
import type { LogLevel } from "../util/logger.ts";
import { createOutput, guardStdio, helpAfter, intArg, untilSignal, outputFlags } from "./output.ts";
import { listenHint } from "./hints.ts";

interface SignalFlags {
  port: number;
  host: string;
  json?: boolean;
  log?: string;
}

export function register(program: Command): void {
  helpAfter(outputFlags(program.command("signal")), [
    "p2pnode signal --port 1883                       # then: p2pnode listen --signal mqtt://127.0.0.1:1883",
    "p2pnode signal --host 0.0.0.0 --port 1883        # for peers on other machines",
  ])
    .description("run a signaling broker (MQTT) that nodes can share: --signal mqtt://HOST:PORT")
    .option("-p, --port <port>", "TCP port to listen on (0 = any free port)", intArg("--port"), 1883)
    .option("--host <ip>", "address to listen on (0.0.0.0 or :: for every interface)", "127.0.0.1")
    .action(async (flags: SignalFlags) => {
      guardStdio();
      const out = createOutput(!!flags.json);
      // Loaded here, not at the top: `p2pnode --help` stays fast.
      const [{ startBroker }, { createLogger }] = await Promise.all([import("../signaling/broker.ts"), import("../util/logger.ts")]);
      const broker = await startBroker({ host: flags.host, port: flags.port, logger: createLogger(flags.log as LogLevel | undefined) }).catch(
        (err: unknown) => out.fail(listenHint(err)),
      );
      const stopped = untilSignal(); // armed before "ready": whoever reads it may stop us at once
      out.event("ready", { url: broker.url, host: broker.host, port: broker.port });
      out.data(`signaling broker ready: ${broker.url}`);
      const sig = await stopped;
      await broker.close();
      out.event("closed", { signal: sig });
      out.info(`closed (${sig})`);
    });
}
