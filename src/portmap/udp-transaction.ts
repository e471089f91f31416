/**
 * One request/answer exchange over UDP with the NAT-PMP retransmission
 * schedule (RFC 6886 §3.1, RFC 6887 §8.1.1: start at 250 ms, double each
 * time), cut short by a hard timeout. Silence is not an error: it resolves
 * undefined. Only answers from the server's own address and port count.
 */
import dgram from "node:dgram";
import { AbortError } from "../errors.ts";

export interface UdpTransactionOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** First retransmission interval. @default 250 */
  initialRtoMs?: number;
}

export async function udpTransaction<T>(server: string, port: number, request: Uint8Array, accept: (answer: Uint8Array, local: string) => T | undefined, opts: UdpTransactionOptions): Promise<T | undefined> {
  if (opts.signal?.aborted) throw new AbortError("port mapping aborted", { cause: opts.signal.reason });
  const sock = dgram.createSocket({ type: server.includes(":") ? "udp6" : "udp4" });
  let timer: NodeJS.Timeout | undefined;
  let hard: NodeJS.Timeout | undefined;
  let settle: (v: T | undefined | AbortError) => void = () => {};
  const done = new Promise<T | undefined | AbortError>((r) => (settle = r));
  const onAbort = () => settle(new AbortError("port mapping aborted", { cause: opts.signal?.reason }));
  opts.signal?.addEventListener("abort", onAbort, { once: true });
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
      timer = setTimeout(send, rto);
      rto *= 2;
    };
    send();
    hard = setTimeout(() => settle(undefined), opts.timeoutMs);
    const v = await done;
    if (v instanceof AbortError) throw v;
    return v;
  } catch (err) {
    if (err instanceof AbortError) throw err;
    // ENETUNREACH, a refused connect (ICMP) or the test network guard: nobody to talk to.
    return undefined;
  } finally {
    clearTimeout(timer);
    clearTimeout(hard);
    opts.signal?.removeEventListener("abort", onAbort);
    try {
      sock.close();
    } catch {
      // already closed
    }
  }
}
