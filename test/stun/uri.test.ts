import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "../../src/errors.ts";
import { parseStunServers, parseStunUri } from "../../src/stun/uri.ts";

describe("parseStunUri (RFC 7064)", () => {
  const good: Array<[string, string, number, number, string]> = [
    ["stun:127.0.0.1", "127.0.0.1", 3478, 4, "stun:127.0.0.1:3478"],
    ["stun:127.0.0.1:19302", "127.0.0.1", 19302, 4, "stun:127.0.0.1:19302"],
    ["STUN:127.0.0.2:1", "127.0.0.2", 1, 4, "stun:127.0.0.2:1"],
    ["stun:[::1]", "::1", 3478, 6, "stun:[::1]:3478"],
    ["stun:[::1]:5349", "::1", 5349, 6, "stun:[::1]:5349"],
    ["stun:[2001:db8::1]:65535", "2001:db8::1", 65535, 6, "stun:[2001:db8::1]:65535"],
    ["stun:localhost", "localhost", 3478, 0, "stun:localhost:3478"],
    ["stun:stun.example.org:3479", "stun.example.org", 3479, 0, "stun:stun.example.org:3479"],
    ["  stun:127.0.0.1:5 ", "127.0.0.1", 5, 4, "stun:127.0.0.1:5"],
  ];
  for (const [input, host, port, family, uri] of good) {
    it(`accepts ${input}`, () => assert.deepEqual(parseStunUri(input), { host, port, family, uri }));
  }
  const bad = [
    "",
    "127.0.0.1:3478",
    "stuns:127.0.0.1",
    "turn:127.0.0.1",
    "stun://127.0.0.1",
    "stun:127.0.0.1:0",
    "stun:127.0.0.1:65536",
    "stun:127.0.0.1:abc",
    "stun:127.0.0.1:",
    "stun:::1",
    "stun:[::1",
    "stun:[::1]x",
    "stun:[127.0.0.1]",
    "stun:[fe80::1%eth0]",
    "stun:host/path",
    "stun:host?transport=udp",
    "stun:user@host",
    "stun:",
    "stun:bad_host",
    "stun:999.1.1.1",
  ];
  for (const input of bad) {
    it(`rejects ${JSON.stringify(input)}`, () => assert.throws(() => parseStunUri(input), InvalidArgumentError));
  }
  it("lists", () => {
    assert.equal(parseStunServers(["stun:127.0.0.1", "stun:[::1]:9"]).length, 2);
    assert.throws(() => parseStunServers(["stun:127.0.0.1", "http://x"]), InvalidArgumentError);
    assert.throws(() => parseStunServers("stun:1.2.3.4" as unknown as string[]), InvalidArgumentError);
  });
});
