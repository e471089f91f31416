/**
 * One request/answer exchange over UDP with the NAT-PMP retransmission
 * schedule (RFC 6886 §3.1, RFC 6887 §8.1.1: start at 250 ms, double each
 * time), cut short by a hard timeout. Silence is not an error: it resolves
 * undefined. Only answers from the server's own address and port count.
 */
import dgram from "node:dgram";
import { AbortError, TimeoutError } from "../errors.ts";
import { systemTimers, type TimerHandle, type Timers } from "../util/clock.ts";
import { deadline } from "../util/deadline.ts";

export interface UdpTransactionOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Retransmission and timeout timers (tests inject FakeTime). @default systemTimers */
  timers?: Timers;
  /** First retransmission interval. @default 250 */
  initialRtoMs?: number;
}

export async function udpTransaction<T>(server: string, port: number, request: Uint8Array, accept: (answer: Uint8Array, local: string) => T | undefined, opts: UdpTransactionOptions): Promise<T | undefined> {
  if (opts.signal?.aborted) throw new AbortError("port mapping aborted", { cause: opts.signal.reason });
  const timers = opts.timers ?? systemTimers;
  const sock = dgram.createSocket({ type: server.includes(":") ? "udp6" : "udp4" });
  let timer: TimerHandle | undefined;
  let settle: (v: T | undefined | AbortError) => void = () => {};
  const done = new Promise<T | undefined | AbortError>((r) => (settle = r));
  // The hard timeout is silence (undefined); the caller's abort is an AbortError.
  const d = deadline({ timeout: opts.timeoutMs, signals: [opts.signal], what: `UDP exchange with ${server}:${port}`, timers });
  const onStop = () => settle(d.signal.reason instanceof TimeoutError ? undefined : new AbortError("port mapping aborted", { cause: opts.signal?.reason }));
  d.signal.addEventListener("abort", onStop, { once: true });
  try {
    sock.on("error", () => settle(undefined));
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.connect(port, server, () => {
        sock.off("error", reject);
        resolve();
      });
    });
    const local = sock.address().address;
    sock.on("message", (msg) => {
      const v = accept(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), local);
      if (v !== undefined) settle(v);
    });
    let rto = opts.initialRtoMs ?? 250;
    const send = () => {
      sock.send(request, (err) => err && settle(undefined));
      timer = timers.setTimeout(send, rto);
      rto *= 2;
    };
    send();
    const v = await done;
    if (v instanceof AbortError) throw v;
    return v;
  } catch (err) {
    if (err instanceof AbortError) throw err;
    // ENETUNREACH, a refused connect (ICMP) or the test network guard: nobody to talk to.
    return undefined;
  } finally {
    timers.clearTimeout(timer);
    d.signal.removeEventListener("abort", onStop);
    d.done();
    try {
      sock.close();
    } catch {
      // already closed
    }
  }
}
