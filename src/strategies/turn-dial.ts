/**
 * The asked peer's side of a TURN connect: reach the requester's relayed
 * address over TCP (a TCP allocation) or with a reliable-UDP stream from a
 * fresh UDP socket (a UDP allocation; its NAT mapping is what the requester
 * answers). Either way a Duplex for the handshake.
 */
import dgram from "node:dgram";
import net from "node:net";
import type { Duplex } from "node:stream";
import { DialError } from "../errors.ts";
import { RudpConnection } from "../rudp/connection.ts";
import { rudpDuplex } from "../rudp/duplex.ts";
import { raceSignal } from "../util/deadline.ts";
import { base64urlDecode } from "../util/encoding.ts";
import type { Clock, Timers } from "../util/clock.ts";
import type { TurnConnectBody } from "./turn-wire.ts";

export async function dialRelay(req: TurnConnectBody, signal: AbortSignal, time: { clock?: Clock; timers?: Timers } = {}): Promise<Duplex> {
  const { ip, port, transport } = req.relay;
  if (transport === "tcp") {
    const sock = net.connect({ host: ip, port });
    sock.on("error", () => {});
    try {
      await raceSignal(
        new Promise<void>((resolve, reject) => {
          sock.once("connect", () => resolve());
          sock.once("error", (err) => reject(new DialError(`relay ${ip}:${port}: ${err.message}`, { cause: err })));
        }),
        signal,
      );
    } catch (err) {
      sock.destroy();
      throw err;
    }
    sock.setNoDelay(true);
    return sock;
  }
  const sock = dgram.createSocket(net.isIPv6(ip) ? "udp6" : "udp4");
  sock.on("error", () => {});
  await new Promise<void>((resolve) => sock.bind(0, () => resolve()));
  const conn = new RudpConnection({ connId: req.connId!, key: base64urlDecode(req.key!)!, send: (b) => sock.send(b, port, ip), clock: time.clock, timers: time.timers });
  sock.on("message", (m, rinfo) => {
    if (rinfo.address === ip && rinfo.port === port) conn.input(new Uint8Array(m.buffer, m.byteOffset, m.byteLength));
  });
  conn.on("close", () => sock.close());
  // The first datagram (the handshake's HELLO, sent by the caller at once) opens our NAT's
  // mapping and tells the requester where we are. The caller destroys the stream on failure.
  return rudpDuplex(conn);
}
