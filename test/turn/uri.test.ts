import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, test } from "node:test";
import { describeTurnServer, parseTurnServers, parseTurnUri, restCredentials } from "../../src/turn/uri.ts";

describe("parseTurnUri (RFC 7065)", () => {
  const ok: Array<[string, string, string]> = [
    ["turn:127.0.0.1", "turn:127.0.0.1:3478", "udp"],
    ["turn:127.0.0.1:3479", "turn:127.0.0.1:3479", "udp"],
    ["turn:127.0.0.1?transport=udp", "turn:127.0.0.1:3478", "udp"],
    ["turn:127.0.0.1:3478?transport=tcp", "turn:127.0.0.1:3478?transport=tcp", "tcp"],
    ["TURN:Relay.Example.org?Transport=TCP", "turn:relay.example.org:3478?transport=tcp", "tcp"],
    ["turn:[::1]:4000", "turn:[::1]:4000", "udp"],
    ["turns:relay.example.org", "turns:relay.example.org:5349", "tls"],
    ["turns:relay.example.org:443?transport=tcp", "turns:relay.example.org:443", "tls"],
  ];
  for (const [input, uri, transport] of ok) {
    test(`${input} → ${uri} over ${transport}`, () => {
      const u = parseTurnUri(input);
      assert.equal(u.uri, uri);
      assert.equal(u.transport, transport);
    });
  }
  const bad = [
    "stun:127.0.0.1",
    "turn:",
    "turn://127.0.0.1",
    "turn:user:secret@127.0.0.1",
    "turn:127.0.0.1:0",
    "turn:127.0.0.1:65536",
    "turn:127.0.0.1?transport=sctp",
    "turn:127.0.0.1?foo=bar",
    "turns:127.0.0.1?transport=udp",
    "turn:::1",
    "turn:[fe80::1%eth0]",
    "turn:999.1.1.1",
    "turn:host/path",
  ];
  for (const input of bad) {
    test(`rejects ${input}`, () => assert.throws(() => parseTurnUri(input), { code: "P2P_ERR_INVALID_ARGUMENT" }));
  }
  test("a URI with userinfo is refused without echoing the secret", () => {
    assert.throws(() => parseTurnUri("turn:alice:hunter2@relay.example.org"), (e: Error) => !e.message.includes("hunter2"));
  });
});

describe("parseTurnServers", () => {
  test("the RTCIceServer shape, one URL or several", () => {
    const [a, b] = parseTurnServers([
      { urls: "turn:127.0.0.1:3478", username: "u", credential: "p" },
      { urls: ["turn:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=tcp"], username: "u", credential: "p" },
    ]);
    assert.deepEqual(a.uris.map((u) => u.transport), ["udp"]);
    assert.deepEqual(b.uris.map((u) => u.transport), ["udp", "tcp"]);
  });
  test("missing or empty credentials, bad shapes", () => {
    for (const v of [{}, [null], [{ urls: [] , username: "u", credential: "p" }], [{ urls: "turn:a.example", credential: "p" }], [{ urls: "turn:a.example", username: "u", credential: "" }], [{ urls: "turn:a.example", username: "u".repeat(600), credential: "p" }]]) {
      assert.throws(() => parseTurnServers(v), { code: "P2P_ERR_INVALID_ARGUMENT" }, JSON.stringify(v).slice(0, 80));
    }
    assert.deepEqual(parseTurnServers(undefined), []);
  });
  test("describeTurnServer shows URIs and user, never the credential", () => {
    const [s] = parseTurnServers([{ urls: "turn:127.0.0.1", username: "alice", credential: "hunter2" }]);
    const d = describeTurnServer(s);
    assert.match(d, /turn:127\.0\.0\.1:3478/);
    assert.match(d, /alice/);
    assert.doesNotMatch(d, /hunter2/);
  });
});

test("restCredentials: expiry:user and base64(HMAC-SHA1(secret, username)), as coturn's use-auth-secret checks", () => {
  const c = restCredentials("s3cret", "alice", 3600, 1_700_000_000_500);
  assert.equal(c.username, "1700003600:alice");
  assert.equal(c.credential, createHmac("sha1", "s3cret").update("1700003600:alice").digest("base64"));
  assert.equal(restCredentials("s3cret", "", 60, 0).username, "60");
  assert.throws(() => restCredentials("", "a", 60, 0), { code: "P2P_ERR_INVALID_ARGUMENT" });
  assert.throws(() => restCredentials("k", "a:b", 60, 0), { code: "P2P_ERR_INVALID_ARGUMENT" });
  assert.throws(() => restCredentials("k", "a", 0, 0), { code: "P2P_ERR_INVALID_ARGUMENT" });
});
