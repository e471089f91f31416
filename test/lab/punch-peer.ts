/**
 * Lab fixture for the punch engine without nodes: runs in a lab host and is
 * driven by test/lab/punch.test.ts, which plays signaling (it relays offers
 * and a start time; the lab's namespaces share one clock). Commands arrive as
 * JSON lines on a FIFO (lab processes have no stdin; a FIFO crosses network
 * namespaces without a socket); results go to stdout.
 *
 *   {"op":"open","nat":NatSummary,"lanIps":[…]}                      → {"event":"offer",…}
 *   {"op":"punch","role","targets","startAt","windowEnd","token"}    → {"event":"connected",…} | {"event":"failed",…}
 *
 * After a connect the initiator sends "ping", the responder answers "pong": data flows both ways.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type net from "node:net";
import { buildOffer, type PunchTarget } from "../../src/strategies/punch/candidates.ts";
import { openPunchPorts, type PunchPorts } from "../../src/strategies/punch/mappings.ts";
import type { HandshakeRole } from "../../src/session/handshake.ts";
import { describeReport, runPunch } from "../../src/strategies/punch/session.ts";
import type { NatSummary } from "../../src/identity/address.ts";

const [stun, fifo] = process.argv.slice(2);
const out = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + "\n");
let ports: PunchPorts | undefined;

function exchange(sock: net.Socket, role: HandshakeRole): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.resume();
    sock.once("error", reject);
    sock.once("data", (d) => {
      const got = String(d);
      if (role === "responder" && got === "ping") sock.write("pong", () => resolve());
      else if (role === "initiator" && got === "pong") resolve();
      else reject(new Error(`unexpected ${JSON.stringify(got)}`));
    });
    if (role === "initiator") sock.write("ping");
  });
}

async function handle(m: Record<string, unknown>): Promise<void> {
  if (m.op === "open") {
    await ports?.release();
    ports = await openPunchPorts({ stun: [stun], count: Number(m.count ?? 1), signal: AbortSignal.timeout(3000), timeout: 3000 });
    const offer = buildOffer({ mappings: ports.mappings, nat: m.nat as NatSummary, lanIps: m.lanIps as string[], predict: 6 });
    out({ event: "offer", offer, publicIps: ports.mappings.map((x) => x.mapped.ip), localPorts: ports.localPorts, ms: ports.ms });
  } else if (m.op === "punch") {
    const role = m.role as HandshakeRole;
    const p = ports;
    if (!p) throw new Error("no ports");
    const t0 = performance.timeOrigin + performance.now();
    try {
      const res = await runPunch({
        role,
        token: Buffer.from(String(m.token), "hex"),
        localPorts: p.localPorts,
        targets: m.targets as PunchTarget[],
        startAt: Number(m.startAt),
        windowEnd: Number(m.windowEnd),
        listen: m.listen === true,
        signal: AbortSignal.timeout(15_000),
      });
      await exchange(res.socket, role);
      out({
        event: "connected",
        startedAt: res.info.startedAt,
        peerStartedAt: res.peerStartedAt,
        target: res.info.target,
        attempt: res.info.attempt,
        synToOpenMs: Math.round(res.info.ms * 10) / 10,
        lateMs: Math.round(res.report.lateMs * 10) / 10,
        report: describeReport(res.report),
        remote: `${res.socket.remoteAddress}:${res.socket.remotePort}`,
      });
      res.socket.destroy();
    } catch (err) {
      out({ event: "failed", error: (err as Error).message, ms: Math.round(performance.timeOrigin + performance.now() - t0) });
    } finally {
      await p.release();
      ports = undefined;
    }
  }
}

const rl = createInterface({ input: createReadStream(fifo) });
rl.on("line", (line) => {
  handle(JSON.parse(line) as Record<string, unknown>).catch((err) => out({ event: "error", error: (err as Error).message }));
});
rl.on("close", () => void ports?.release().then(() => process.exit(0)));
out({ event: "ready" });
