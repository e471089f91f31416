/**
 * A node Duplex over a RudpConnection, for the parts of the stack that take
 * a stream: the handshake, and the Pipe through its socket adapter. Reading
 * is flow-controlled (a full readable buffer pauses the connection, which
 * closes its receive window); final() waits until our FIN is acknowledged.
 */
import { Duplex } from "node:stream";
import { PipeClosedError } from "../errors.ts";
import type { RudpConnection } from "./connection.ts";

export function rudpDuplex(c: RudpConnection): Duplex {
  // The write waiting for 'drain': a destroy must call it back (with the error), or the
  // stream and whoever awaits that write would wait forever.
  let waiting: ((err?: Error | null) => void) | undefined;
  const drained = () => {
    const cb = waiting;
    waiting = undefined;
    cb?.();
  };
  const d = new Duplex({
    allowHalfOpen: true,
    write(chunk: Buffer, _enc, cb) {
      if (c.write([chunk])) cb();
      else {
        waiting = cb;
        c.once("drain", drained);
      }
    },
    final(cb) {
      c.end(() => cb());
    },
    read() {
      c.resume();
    },
    destroy(err, cb) {
      c.off("drain", drained);
      const w = waiting;
      waiting = undefined;
      w?.(err ?? new PipeClosedError("the reliable-UDP stream was destroyed"));
      c.destroy(err ?? undefined);
      cb(err);
    },
  });
  c.on("data", (b) => {
    if (!d.push(b)) c.pause();
  });
  c.on("end", () => d.push(null));
  c.on("error", (err) => d.destroy(err));
  c.on("close", () => {
    if (!d.destroyed && d.readableEnded && d.writableFinished) d.destroy();
  });
  return d;
}
