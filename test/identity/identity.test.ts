import assert from "node:assert/strict";
import { diffieHellman, generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { base32Encode } from "../../src/util/encoding.ts";
import { IdentityError, InvalidArgumentError } from "../../src/errors.ts";
import { Identity, idFromPublicKey, isNodeId, publicKeyFromId, verifySignature, x25519KeyFromId } from "../../src/identity/identity.ts";

describe("node ids", () => {
  it("round-trips a public key through a 52-character lowercase id", () => {
    for (let i = 0; i < 5; i++) {
      const me = Identity.generate();
      assert.equal(me.id.length, 52);
      assert.match(me.id, /^[a-z2-7]{52}$/);
      assert.equal(idFromPublicKey(me.publicKey), me.id);
      assert.deepEqual(Buffer.from(publicKeyFromId(me.id)), Buffer.from(me.publicKey));
      assert.equal(isNodeId(me.id), true);
    }
  });

  it("hex vector: 32 zero bytes and 32 0xff bytes", () => {
    assert.equal(base32Encode(new Uint8Array(32)), "a".repeat(52));
    // 256 bits = 51 full groups + 1 bit ("1" then 4 zero bits = 16 = "q")
    assert.equal(base32Encode(new Uint8Array(32).fill(0xff)), "7".repeat(51) + "q");
    // Neither is a key a node can have (a point of order 4; not on the curve).
    assert.throws(() => idFromPublicKey(new Uint8Array(32)), InvalidArgumentError);
    assert.throws(() => idFromPublicKey(new Uint8Array(32).fill(0xff)), InvalidArgumentError);
  });

  it("idFromPublicKey refuses keys that are not 32 bytes", () => {
    for (const n of [0, 31, 33, 64]) assert.throws(() => idFromPublicKey(new Uint8Array(n)), InvalidArgumentError);
  });

  it("isNodeId / publicKeyFromId reject everything that is not an id", () => {
    const id = Identity.generate().id;
    const bad: unknown[] = [
      undefined,
      null,
      42,
      {},
      "",
      id.slice(0, 51),
      id + "a",
      id.toUpperCase(),
      id.slice(0, 51) + "7", // last char carries 4 unused bits that must be zero
      id.slice(0, 51) + "b",
      "1" + id.slice(1),
      " " + id.slice(1),
    ];
    for (const b of bad) {
      assert.equal(isNodeId(b), false, String(b));
      assert.throws(() => publicKeyFromId(b as string), InvalidArgumentError, String(b));
    }
  });
});

describe("signatures", () => {
  const alice = Identity.generate();
  const bob = Identity.generate();
  const data = Buffer.from("the quick brown fox");

  it("sign/verify by id and by raw key", () => {
    const sig = alice.sign(data);
    assert.equal(sig.length, 64);
    assert.equal(verifySignature(alice.id, data, sig), true);
    assert.equal(verifySignature(alice.publicKey, data, sig), true);
  });

  it("refuses another signer, other data, a flipped bit, a wrong length — and never throws", () => {
    const sig = alice.sign(data);
    assert.equal(verifySignature(bob.id, data, sig), false);
    assert.equal(verifySignature(alice.id, Buffer.from("the quick brown fox."), sig), false);
    for (let i = 0; i < 64; i++) {
      const s = Buffer.from(sig);
      s[i] ^= 1 << i % 8;
      assert.equal(verifySignature(alice.id, data, s), false, `byte ${i}`);
    }
    assert.equal(verifySignature(alice.id, data, sig.subarray(0, 63)), false);
    assert.equal(verifySignature(alice.id, data, new Uint8Array(0)), false);
    assert.equal(verifySignature("not an id", data, sig), false);
    assert.equal(verifySignature(new Uint8Array(31), data, sig), false);
  });
});

describe("X25519 keys derived from the identity", () => {
  it("x25519KeyFromId(a.id) agrees with a.x25519PrivateKey() (ECDH in both directions)", () => {
    for (let i = 0; i < 3; i++) {
      const a = Identity.generate();
      const b = Identity.generate();
      const ab = diffieHellman({ privateKey: a.x25519PrivateKey(), publicKey: x25519KeyFromId(b.id) });
      const ba = diffieHellman({ privateKey: b.x25519PrivateKey(), publicKey: x25519KeyFromId(a.id) });
      assert.equal(ab.length, 32);
      assert.deepEqual(ab, ba);
      // and with an ephemeral key (how signaling encrypts to an id)
      const eph = generateKeyPairSync("x25519");
      const s1 = diffieHellman({ privateKey: eph.privateKey, publicKey: x25519KeyFromId(a.id) });
      const s2 = diffieHellman({ privateKey: a.x25519PrivateKey(), publicKey: eph.publicKey });
      assert.deepEqual(s1, s2);
      assert.equal(a.x25519PrivateKey(), a.x25519PrivateKey(), "cached");
    }
  });

  it("x25519KeyFromId refuses a non-id", () => {
    assert.throws(() => x25519KeyFromId("nope"), InvalidArgumentError);
  });
});

describe("identity files", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "p2pnode-identity-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("save writes a PKCS#8 PEM with mode 0600 that loads back to the same id and key", async () => {
    const me = Identity.generate();
    const file = path.join(dir, "saved.pem");
    await me.save(file);
    const st = await stat(file);
    assert.equal(st.mode & 0o777, 0o600);
    const pem = await readFile(file, "utf8");
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
    const again = Identity.fromPem(pem);
    assert.equal(again.id, me.id);
    const sig = again.sign(Buffer.from("x"));
    assert.equal(verifySignature(me.id, Buffer.from("x"), sig), true);
  });

  it("save refuses to overwrite an existing file (and leaves it untouched)", async () => {
    const file = path.join(dir, "existing.pem");
    await writeFile(file, "precious");
    await assert.rejects(Identity.generate().save(file), IdentityError);
    assert.equal(await readFile(file, "utf8"), "precious");
  });

  it("save into a missing directory fails with IdentityError", async () => {
    await assert.rejects(Identity.generate().save(path.join(dir, "no", "such", "dir.pem")), IdentityError);
  });

  it("fromPem refuses a key that is not Ed25519, a public key, and garbage", () => {
    for (const type of ["x25519", "ed448"] as const) {
      const pem = generateKeyPairSync(type as "x25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
      assert.throws(() => Identity.fromPem(pem), IdentityError, type);
    }
    const ec = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    assert.throws(() => Identity.fromPem(ec), IdentityError);
    const pub = generateKeyPairSync("ed25519").publicKey.export({ format: "pem", type: "spki" }).toString();
    assert.throws(() => Identity.fromPem(pub), IdentityError);
    for (const junk of ["", "hello", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"]) {
      assert.throws(() => Identity.fromPem(junk), IdentityError, JSON.stringify(junk));
    }
  });

  it("loadOrCreate: a non-Ed25519 PEM or a garbage file gives IdentityError (never overwritten)", async () => {
    const rsaFile = path.join(dir, "x25519.pem");
    const pem = generateKeyPairSync("x25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    await writeFile(rsaFile, pem);
    await assert.rejects(Identity.loadOrCreate(rsaFile), IdentityError);
    assert.equal(await readFile(rsaFile, "utf8"), pem);

    const junkFile = path.join(dir, "junk.pem");
    await writeFile(junkFile, Buffer.from([0, 1, 2, 255, 254]));
    await assert.rejects(Identity.loadOrCreate(junkFile), IdentityError);
    assert.deepEqual(await readFile(junkFile), Buffer.from([0, 1, 2, 255, 254]));
  });

  it("loadOrCreate: an unreadable path (a directory) gives IdentityError", async () => {
    await assert.rejects(Identity.loadOrCreate(dir), IdentityError);
  });

  it("loadOrCreate creates the file once (0600), then loads the same id", async () => {
    const file = path.join(dir, "node.pem");
    const first = await Identity.loadOrCreate(file);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const second = await Identity.loadOrCreate(file);
    assert.equal(second.id, first.id);
    assert.equal(isNodeId(first.id), true);
  });
});
