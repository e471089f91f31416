/**
 * The embedded relay's workarounds 6-9 at the wire level: requests shaped
 * like those of coturn's turnutils_uclient (EVEN-PORT, RESERVATION-TOKEN,
 * REQUESTED-ADDRESS-FAMILY, channels above 0x4FFF, a client that checks
 * MESSAGE-INTEGRITY), sent by hand so each case is deterministic (uclient
 * picks some of them at random). node-turn alone leaves the requests of
 * 6 and 9 unanswered ("no answer" below), sends the ChannelBind success of 7
 * unsigned, and drops the ChannelData of 8.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { once } from "node:events";
import { after, before, test } from "node:test";
import {
  decode,
  encode,
  getAttribute,
  longTermKey,
  Method,
  newTransactionId,
  Protocol,
  verifyIntegrity,
  type DecodedStunMessage,
  type StunAttribute,
} from "../../src/stun/codec.ts";
import { startEmbeddedRelay, type EmbeddedRelay } from "../../src/turn/embedded.ts";

const USER = "alice";
const PASS = "wire-test-secret";
const RANGE = { minPort: 43000 + (process.pid % 50) * 40, maxPort: 43000 + (process.pid % 50) * 40 + 39 };
let relay: EmbeddedRelay;
before(async () => {
  relay = await startEmbeddedRelay({ port: 0, users: { [USER]: PASS }, ...RANGE });
});
after(async () => {
  await relay.close();
});

/** One client 5-tuple: a socket, the challenge's realm and nonce, and the key they give. */
async function client() {
  const sock = dgram.createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  let auth: StunAttribute[] = [];
  let key: Uint8Array | undefined;
  /** Sends one request; the answer, or undefined when none comes within 1.5 s (node-turn dropped it). */
  const ask = async (method: number, attrs: StunAttribute[]): Promise<DecodedStunMessage | undefined> => {
    const bytes = encode({ method, class: "request", transactionId: newTransactionId(), attributes: [...attrs, ...auth] }, { integrityKey: key, fingerprint: true });
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 1500);
    sock.send(bytes, relay.port, relay.host);
    try {
      const [data] = await once(sock, "message", { signal: ac.signal });
      return decode(new Uint8Array(data));
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };
  const challenge = await ask(Method.ALLOCATE, [{ type: "REQUESTED-TRANSPORT", value: Protocol.UDP }]);
  assert.equal(challenge?.class, "error", "the first Allocate is challenged");
  const realm = getAttribute(challenge!, "REALM")!;
  auth = [{ type: "USERNAME", value: USER }, { type: "REALM", value: realm }, { type: "NONCE", value: getAttribute(challenge!, "NONCE")! }];
  key = longTermKey(USER, realm, PASS);
  return { sock, ask, key, close: () => sock.close() };
}

const transport: StunAttribute = { type: "REQUESTED-TRANSPORT", value: Protocol.UDP };
const code = (m: DecodedStunMessage | undefined) => (m?.class === "error" ? getAttribute(m, "ERROR-CODE")?.code : m?.class);

test("workaround 6: an Allocate with EVEN-PORT (R=0, as uclient sends at random) is answered with an even relay port in the range", async () => {
  const c = await client();
  try {
    const ok = await c.ask(Method.ALLOCATE, [transport, { type: 0x0018, value: Uint8Array.of(0x00) }]);
    assert.ok(ok, "no answer: node-turn threw parsing EVEN-PORT and dropped the request");
    assert.equal(ok.class, "success", `answer: ${code(ok)}`);
    const port = getAttribute(ok, "XOR-RELAYED-ADDRESS")!.port;
    assert.equal(port % 2, 0, `relay port ${port} is even`);
    assert.ok(port >= RANGE.minPort && port <= RANGE.maxPort, `relay port ${port} is in the range`);
  } finally {
    c.close();
  }
});

test("workaround 6: EVEN-PORT with R=1 (reserve the next port) and a RESERVATION-TOKEN get 508, not silence", async () => {
  const a = await client();
  const b = await client();
  try {
    const reserve = await a.ask(Method.ALLOCATE, [transport, { type: 0x0018, value: Uint8Array.of(0x80) }]);
    assert.equal(code(reserve), 508, "R=1 is refused: we keep no reservations");
    const token = await b.ask(Method.ALLOCATE, [transport, { type: 0x0022, value: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) }]);
    assert.equal(code(token), 508, "an unknown token is refused");
  } finally {
    a.close();
    b.close();
  }
});

test("workaround 7: a ChannelBind success carries a MESSAGE-INTEGRITY that verifies (uclient gives up without one)", async () => {
  const c = await client();
  try {
    assert.equal(code(await c.ask(Method.ALLOCATE, [transport])), "success");
    const peer = { type: "XOR-PEER-ADDRESS" as const, value: { family: 4 as const, address: "127.0.0.1", port: 40001 } };
    const ok = await c.ask(Method.CHANNEL_BIND, [{ type: "CHANNEL-NUMBER", value: 0x4001 }, peer]);
    assert.equal(code(ok), "success");
    assert.ok(ok!.integrityOffset !== undefined, "the success has MESSAGE-INTEGRITY");
    assert.ok(verifyIntegrity(ok!, c.key), "and it verifies with the long-term key");
  } finally {
    c.close();
  }
});

test("workaround 8: ChannelData on a channel above 0x4FFF (RFC 5766's range, which node-turn grants and uclient picks from) reaches the peer", async () => {
  const c = await client();
  const peer = dgram.createSocket("udp4");
  await new Promise<void>((r) => peer.bind(0, "127.0.0.1", () => r()));
  try {
    assert.equal(code(await c.ask(Method.ALLOCATE, [transport])), "success");
    const to = { type: "XOR-PEER-ADDRESS" as const, value: { family: 4 as const, address: "127.0.0.1", port: peer.address().port } };
    assert.equal(code(await c.ask(Method.CHANNEL_BIND, [{ type: "CHANNEL-NUMBER", value: 0x7123 }, to])), "success");
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 1500);
    const got = once(peer, "message", { signal: ac.signal }).then(([d]) => String(d), () => "nothing: the relay dropped it");
    c.sock.send(Buffer.concat([Buffer.from([0x71, 0x23, 0, 5]), Buffer.from("hello")]), relay.port, relay.host);
    assert.equal(await got, "hello");
    clearTimeout(timer);
  } finally {
    c.close();
    peer.close();
  }
});

test("workaround 9: REQUESTED-ADDRESS-FAMILY is honoured (IPv4 allocates, IPv6 gets 440) instead of dropping the request", async () => {
  const v4 = await client();
  const v6 = await client();
  try {
    const ok = await v4.ask(Method.ALLOCATE, [transport, { type: 0x0017, value: Uint8Array.of(0x01, 0, 0, 0) }]);
    assert.equal(code(ok), "success");
    const no = await v6.ask(Method.ALLOCATE, [transport, { type: 0x0017, value: Uint8Array.of(0x02, 0, 0, 0) }]);
    assert.equal(code(no), 440, "the relay is IPv4 only");
  } finally {
    v4.close();
    v6.close();
  }
});

test("workaround 9: an unknown comprehension-required attribute gets 420 naming it; an unknown comprehension-optional one is ignored", async () => {
  const a = await client();
  const b = await client();
  try {
    const refused = await a.ask(Method.ALLOCATE, [transport, { type: 0x7777, value: Uint8Array.of(1, 2, 3, 4) }]);
    assert.equal(code(refused), 420);
    assert.deepEqual(getAttribute(refused!, "UNKNOWN-ATTRIBUTES"), [0x7777]);
    const ok = await b.ask(Method.ALLOCATE, [transport, { type: 0xc0de, value: Uint8Array.of(1, 2, 3, 4) }]);
    assert.equal(code(ok), "success");
  } finally {
    a.close();
    b.close();
  }
});
