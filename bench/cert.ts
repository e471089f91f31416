/**
 * A self-signed Ed25519 certificate for the TLS 1.3 baseline, built in-process
 * with node:crypto and a few lines of DER (no dependency, no openssl binary).
 * Only for the benchmark: the client does not verify it (a pipe's peer check is
 * not part of what is timed either, beyond the handshake's signatures).
 */
import { generateKeyPairSync, sign } from "node:crypto";

function der(tag: number, body: Buffer): Buffer {
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}
const seq = (...parts: Buffer[]) => der(0x30, Buffer.concat(parts));
const oid = (bytes: number[]) => der(0x06, Buffer.from(bytes));
const utf8 = (s: string) => der(0x0c, Buffer.from(s));
const time = (d: Date) => der(0x17, Buffer.from(d.toISOString().replace(/[-:T]/g, "").slice(2, 14) + "Z"));

const ED25519 = seq(oid([0x2b, 0x65, 0x70])); // 1.3.101.112, no parameters
const CN = [0x55, 0x04, 0x03]; // 2.5.4.3

export function selfSignedCert(name = "localhost"): { key: string; cert: string } {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const spki = publicKey.export({ type: "spki", format: "der" });
  const subject = seq(der(0x31, seq(oid(CN), utf8(name))));
  const now = Date.now();
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))), // v3
    der(0x02, Buffer.from([0x01, 0x23, 0x45])), // serial
    ED25519,
    subject,
    seq(time(new Date(now - 3600_000)), time(new Date(now + 86400_000))),
    subject,
    spki,
  );
  const sig = sign(null, tbs, privateKey);
  const cert = seq(tbs, ED25519, der(0x03, Buffer.concat([Buffer.from([0]), sig])));
  const pem = `-----BEGIN CERTIFICATE-----\n${cert.toString("base64").replace(/.{64}/g, "$&\n")}\n-----END CERTIFICATE-----\n`;
  return { key: privateKey.export({ type: "pkcs8", format: "pem" }) as string, cert: pem };
}
