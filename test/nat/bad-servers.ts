// Tiny misbehaving STUN servers (UDP + TCP on the same port) for the discovery tests.
import dgram from "node:dgram";
import net from "node:net";
import { decode, encode, Method, newTransactionId } from "../../src/stun/codec.ts";
import { StunFramer } from "../../src/stun/framer.ts";

export type Behaviour = "garbage" | "wrong-txid" | "truncated" | "silent" | "liar";

function answerFor(kind: Behaviour, req: Uint8Array, from: { address: string; port: number }): Uint8Array | undefined {
  let txid: Uint8Array;
  try {
    txid = decode(req).transactionId;
  } catch {
    return undefined;
  }
  const ok = (t: Uint8Array, address = from.address, port = from.port) =>
    encode({ method: Method.BINDING, class: "success", transactionId: t, attributes: [{ type: "XOR-MAPPED-ADDRESS", value: { family: net.isIPv6(address) ? 6 : 4, address, port } }] });
  switch (kind) {
    case "garbage":
      return Uint8Array.from(Buffer.from("\x00\x01\x00\x10this is not stun at all"));
    case "wrong-txid":
      return ok(newTransactionId());
    case "truncated":
      return ok(txid).subarray(0, 26);
    case "liar":
      return ok(txid, net.isIPv6(from.address) ? "2001:db8::9" : "192.0.2.99", 1234);
    case "silent":
      return undefined;
  }
}

/** Starts a bad server on `host`, UDP and TCP on one port. */
export async function badServer(kind: Behaviour, host = "127.0.0.1", onRequest?: () => void): Promise<{ uri: string; close: () => Promise<void> }> {
  const udp = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
  udp.on("message", (m, r) => {
    onRequest?.();
    const a = answerFor(kind, m, r);
    if (a) udp.send(a, r.port, r.address);
  });
  await new Promise<void>((res) => udp.bind(0, host, res));
  const port = udp.address().port;
  const conns = new Set<net.Socket>();
  const tcp = net.createServer((c) => {
    conns.add(c);
    c.on("close", () => conns.delete(c));
    c.on("error", () => {});
    const f = new StunFramer();
    c.on("data", (d) => {
      try {
        for (const fr of f.push(d)) {
          onRequest?.();
          const a = answerFor(kind, fr.bytes, { address: c.remoteAddress!, port: c.remotePort! });
          if (a) c.write(a);
        }
      } catch {
        c.destroy();
      }
    });
  });
  // The UDP port may be taken for TCP: then start over on another one (never leave the UDP socket open).
  const listening = await new Promise<boolean>((res) => {
    tcp.once("error", () => res(false));
    tcp.listen(port, host, () => res(true));
  });
  if (!listening) {
    await new Promise<void>((r) => udp.close(() => r()));
    return badServer(kind, host, onRequest);
  }
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    uri: `stun:${shown}:${port}`,
    close: async () => {
      for (const c of conns) c.destroy();
      await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
    },
  };
}
