/**
 * One punch from one side: the simultaneous-open window plus selection. The
 * responder greets every connection that opens with HELLO; the initiator (the
 * controlling side) answers the first valid greeting with NOMINATE and stops
 * the punch. Everything else (pending SYNs, other opened connections, timers)
 * is freed before this resolves or rejects.
 */
import type net from "node:net";
import { AbortError, PunchError } from "../../errors.ts";
import type { HandshakeRole } from "../../session/handshake.ts";
import { deadline } from "../../util/deadline.ts";
import { PreambleKind, encodePreamble, readPreamble, verifyPreamble } from "./preamble.ts";
import { simultaneousOpen, type ConnectInfo, type SimultaneousOpenOptions, type SimultaneousOpenReport } from "./simultaneous-open.ts";

export interface RunPunchOptions extends Omit<SimultaneousOpenOptions, "onConnect" | "signal"> {
  /** The punch's role is the handshake's: the initiator nominates, then opens the handshake. */
  role: HandshakeRole;
  /** 16 random bytes chosen by the initiator for this punch (never sent: the preamble carries HMAC proofs of it). */
  token: Buffer;
  signal: AbortSignal;
  /** Gets the engine's report once the window is over, whatever the outcome (SYN counts for stats and traces). */
  onReport?(report: SimultaneousOpenReport): void;
}

export interface RunPunchResult {
  socket: net.Socket;
  info: ConnectInfo;
  report: SimultaneousOpenReport;
  /** When the peer's first SYNs left, in the peer's clock (from its preamble). */
  peerStartedAt: number;
}

const noop = () => {};

export async function runPunch(o: RunPunchOptions): Promise<RunPunchResult> {
  if (o.signal.aborted) throw new AbortError("punch aborted");
  // Ends the window early once a connection is nominated; the caller's signal ends it too.
  const nominated = new AbortController();
  const stop = deadline({ signals: [o.signal, nominated.signal], what: "punch", clock: o.clock, timers: o.timers });
  const opened = new Set<net.Socket>();
  let winner: { socket: net.Socket; info: ConnectInfo; peerStartedAt: number } | undefined;
  const refused: string[] = [];

  const onConnect = (socket: net.Socket, info: ConnectInfo) => {
    opened.add(socket);
    socket.on("error", noop);
    if (o.role === "responder") socket.write(encodePreamble({ kind: PreambleKind.HELLO, token: o.token, startedAt: info.startedAt }));
    readPreamble(socket, stop.signal).then(
      (p) => {
        const want = o.role === "initiator" ? PreambleKind.HELLO : PreambleKind.NOMINATE;
        if (winner || !verifyPreamble(p, o.token, want)) {
          if (!winner) refused.push(`${info.target.ip}:${info.target.port} sent a foreign preamble`);
          socket.destroy();
          return;
        }
        winner = { socket, info, peerStartedAt: p.startedAt };
        if (o.role === "initiator") socket.write(encodePreamble({ kind: PreambleKind.NOMINATE, token: o.token, startedAt: info.startedAt }));
        nominated.abort();
      },
      () => socket.destroy(),
    );
  };

  let report: SimultaneousOpenReport;
  try {
    const { onReport, ...engine } = o;
    report = await simultaneousOpen({ ...engine, signal: stop.signal, onConnect });
    onReport?.(report);
  } finally {
    nominated.abort(); // ends preamble reads still waiting
    stop.done();
    for (const s of opened) if (s !== winner?.socket) s.destroy();
  }
  if (winner) {
    winner.socket.off("error", noop);
    return { ...winner, report };
  }
  if (o.signal.aborted) throw new AbortError("punch aborted");
  throw new PunchError(`no connection opened by simultaneous open: ${describeReport(report)}${refused.length ? `; ${refused.join("; ")}` : ""}`);
}

/** One line for errors and traces: attempts, opened, socket errors by code. */
export function describeReport(r: SimultaneousOpenReport): string {
  if (r.end === "no-targets") return "no target the peer offered may be dialled";
  const errs = Object.entries(r.errors).map(([k, v]) => `${k}×${v}`).join(", ");
  const limits = [r.capped ? `${r.capped} re-dial(s) over the attempt caps` : "", r.denied ? `${r.denied} SYN(s) over a destination's budget` : ""].filter(Boolean).join(", ");
  return `${r.pairs} pair(s), ${r.attempts} SYN attempt(s), ${r.connected} opened${errs ? `, errors ${errs}` : ""}${limits ? `, ${limits}` : ""}`;
}
