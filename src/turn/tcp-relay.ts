/**
 * RFC 6062 TCP allocations, the allocating side: when a peer connects to our
 * TCP relayed address the server sends a ConnectionAttempt indication; we open
 * a new TCP (or TLS) connection to the server and send ConnectionBind with the
 * CONNECTION-ID. After its success answer that connection carries the peer's
 * bytes unchanged: a plain byte stream a Pipe can run over, end to end.
 */
import net from "node:net";
import tls from "node:tls";
import { TurnError } from "../errors.ts";
import { decode, encode, getAttribute, HEADER_LENGTH, Method, newTransactionId, sameTransaction, verifyIntegrity, type StunAttribute, type TransportAddress } from "../stun/codec.ts";
import { deadline, raceSignal } from "../util/deadline.ts";
import type { Timers } from "../util/clock.ts";

/** What an authenticated request needs, from the allocation's own state. */
export interface TurnAuth {
  username: string;
  realm: string;
  nonce: string;
  key: Uint8Array;
}

export interface BindConnectionOptions {
  server: TransportAddress;
  transport: "tcp" | "tls";
  servername?: string;
  label: string;
  connectionId: number;
  auth: () => TurnAuth;
  /** A 438 answer brought a new nonce. */
  onNonce: (nonce: string) => void;
  signal?: AbortSignal;
  timeout: number;
  timers?: Timers;
}

/** Largest answer we wait for before the peer's data (a ConnectionBind answer is ~100 bytes). */
const MAX_ANSWER = 2048;

/** Binds the peer's connection; resolves with the data socket (peer bytes already received are pushed back into it). */
export async function bindConnection(o: BindConnectionOptions): Promise<net.Socket> {
  const d = deadline({ timeout: o.timeout, signals: [o.signal], what: `TURN ConnectionBind on ${o.label}`, timers: o.timers });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await raceSignal(bindOnce(o, d.signal), d.signal);
      if (r.socket) return r.socket;
      if (r.nonce) o.onNonce(r.nonce);
      else break;
    }
    throw new TurnError(`TURN ${o.label} kept refusing ConnectionBind with a stale nonce`, { server: o.label, reason: "protocol" });
  } finally {
    d.done();
  }
}

async function bindOnce(o: BindConnectionOptions, signal: AbortSignal): Promise<{ socket?: net.Socket; nonce?: string }> {
  const a = o.auth();
  const opts = { host: o.server.address, port: o.server.port, family: o.server.family };
  const sock = o.transport === "tls" ? tls.connect({ ...opts, servername: o.servername }) : net.connect(opts);
  const fail = (reason: "closed" | "protocol", text: string, cause?: unknown) => new TurnError(`TURN ${o.label} ${text}`, { server: o.label, reason, cause });
  const onAbort = () => sock.destroy();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once(o.transport === "tls" ? "secureConnect" : "connect", () => resolve());
      sock.once("error", (err) => reject(fail("closed", `unreachable for ConnectionBind: ${err.message}`, err)));
    });
    const txid = newTransactionId();
    const attrs: StunAttribute[] = [
      { type: "CONNECTION-ID", value: o.connectionId },
      { type: "USERNAME", value: a.username },
      { type: "REALM", value: a.realm },
      { type: "NONCE", value: a.nonce },
    ];
    sock.write(encode({ method: Method.CONNECTION_BIND, class: "request", transactionId: txid, attributes: attrs }, { integrityKey: a.key, fingerprint: true }));
    // Read exactly one STUN answer; whatever follows it is the peer's. 'readable' + read()
    // rather than 'data': the stream must not flow (and drop bytes) before the caller listens.
    const { answer, rest } = await new Promise<{ answer: Uint8Array; rest: Buffer }>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const onReadable = () => {
        for (let chunk = sock.read() as Buffer | null; chunk !== null; chunk = sock.read() as Buffer | null) {
          buf = Buffer.concat([buf, chunk]);
          if (buf.length < HEADER_LENGTH) continue;
          const total = HEADER_LENGTH + buf.readUInt16BE(2);
          if (total > MAX_ANSWER) return done(fail("protocol", "sent an oversized ConnectionBind answer"));
          if (buf.length >= total) return done(undefined, { answer: new Uint8Array(buf.subarray(0, total)), rest: buf.subarray(total) });
        }
      };
      const onEnd = () => done(fail("closed", "closed the connection before answering ConnectionBind"));
      const done = (err?: Error, v?: { answer: Uint8Array; rest: Buffer }) => {
        sock.off("readable", onReadable);
        sock.off("end", onEnd);
        sock.off("error", onEnd);
        if (err) reject(err);
        else resolve(v!);
      };
      sock.on("readable", onReadable);
      sock.once("end", onEnd);
      sock.once("error", onEnd);
    });
    let msg;
    try {
      msg = decode(answer);
    } catch (err) {
      throw fail("protocol", "answered ConnectionBind with bytes that are not STUN", err);
    }
    if (!sameTransaction(msg.transactionId, txid) || msg.method !== Method.CONNECTION_BIND) throw fail("protocol", "answered something other than our ConnectionBind");
    if (msg.integrityOffset !== undefined && !verifyIntegrity(msg, a.key)) throw fail("protocol", "answered ConnectionBind with a bad MESSAGE-INTEGRITY");
    if (msg.class === "success") {
      if (rest.length) sock.unshift(rest);
      sock.setNoDelay(true);
      return { socket: sock };
    }
    const e = getAttribute(msg, "ERROR-CODE");
    const nonce = getAttribute(msg, "NONCE");
    sock.destroy();
    if (e?.code === 438 && nonce) return { nonce };
    throw new TurnError(`TURN ${o.label} refused ConnectionBind: ${e?.code ?? "?"} ${e?.reason ?? ""}`.trim(), { server: o.label, reason: e?.code === 447 ? "closed" : "error", status: e?.code });
  } catch (err) {
    sock.destroy();
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
