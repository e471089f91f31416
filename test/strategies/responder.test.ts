// The responder step every strategy shares (src/strategies/responder.ts): a malformed body is the
// peer's ProtocolError, an address that does not parse or is not the sender's is refused.
import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidArgumentError, ProtocolError, RefusedError } from "../../src/errors.ts";
import { Identity } from "../../src/identity/identity.ts";
import { admitRequest, parsePeerInput } from "../../src/strategies/responder.ts";
import { parseRequest } from "../../src/strategies/punch/messages.ts";
import { parseReverseConnect } from "../../src/signaling/messages.ts";
import { signedAddress } from "./punch/harness.ts";

const sender = Identity.generate();
const address = signedAddress(sender, ["203.0.113.9"]);
const TOKEN = "A".repeat(24);

test("admitRequest: the sender's own signed address is admitted, with the parsed body", () => {
  const { req, requester } = admitRequest("reverse-connect", { address: address.text, token: TOKEN }, sender.id, parseReverseConnect);
  assert.deepEqual(req, { address: address.text, token: TOKEN });
  assert.equal(requester.id, sender.id);
  assert.deepEqual(requester.interfaces[0].v4.public, ["203.0.113.9"]);
});

test("admitRequest: someone else's address is RefusedError naming the request", () => {
  assert.throws(() => admitRequest("punch", { address: address.text }, Identity.generate().id, (b) => b as { address: string }), (e: Error) => e instanceof RefusedError && e.message === "punch: the address belongs to another node");
});

test("admitRequest: an address that does not parse is RefusedError with the reason", () => {
  assert.throws(() => admitRequest("reverse-connect", { address: "p2pn1nonsense", token: TOKEN }, sender.id, parseReverseConnect), (e: Error) => e instanceof RefusedError && /^reverse-connect: the requester's address is invalid: /.test(e.message));
});

test("a malformed body is ProtocolError, with the parser's message (the wire reply is unchanged)", () => {
  // A parser that still reports InvalidArgumentError (the caller's error) is re-typed…
  assert.throws(() => admitRequest("reverse-connect", { address: address.text, token: "short" }, sender.id, parseReverseConnect), (e: Error) => e instanceof ProtocolError && !(e instanceof InvalidArgumentError) && e.message === "reverse-connect token must be 16-64 bytes of base64url");
  // …one that throws ProtocolError already passes through as it is.
  assert.throws(() => admitRequest("punch", { address: address.text }, sender.id, parseRequest), (e: Error) => e instanceof ProtocolError && e.message === "punch token must be 16 bytes of base64url");
  // Anything else a parser throws is wrapped, naming the request.
  assert.throws(() => parsePeerInput("punch", {}, () => { throw new TypeError("boom"); }), (e: Error) => e instanceof ProtocolError && e.message === "punch: malformed request: boom");
});
