import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import * as errors from "../src/errors.ts";

const root = new URL("..", import.meta.url).pathname;

test("every error code is documented in docs/errors.md", () => {
  const doc = readFileSync(join(root, "docs/errors.md"), "utf8");
  const codes = (Object.values(errors) as unknown[])
    .map((v) => (typeof v === "function" ? (v as { code?: unknown }).code : undefined))
    .filter((c): c is string => typeof c === "string");
  assert.ok(codes.length >= 15);
  for (const code of codes) assert.ok(doc.includes("`" + code + "`"), `${code} is missing from docs/errors.md`);
});

test("errors carry code, name, cause and the brand", () => {
  const cause = new Error("inner");
  const e = new errors.DialError("outer", { cause });
  assert.equal(e.code, "P2P_ERR_DIAL");
  assert.equal(e.name, "DialError");
  assert.equal(e.cause, cause);
  assert.ok(errors.isP2PError(e));
  assert.ok(!errors.isP2PError(cause));
});

test("library code throws only typed errors (no bare `throw new Error(`)", () => {
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : n.endsWith(".ts") ? [join(d, n)] : []));
  const offenders = [...walk(join(root, "src")), ...walk(join(root, "strategies"))].filter((f) => /throw new Error\(/.test(readFileSync(f, "utf8")));
  assert.deepEqual(offenders, []);
});

test("instanceof holds across two loaded copies of the errors (the brand and the code decide)", async () => {
  const own = await import("../src/errors.ts");
  const second = "../src/errors.ts?second-copy"; // a query makes the loader evaluate the module again
  const copy = (await import(second)) as typeof own;
  assert.notEqual(copy.PeerIdentityError, own.PeerIdentityError, "really a second copy");
  const e = new copy.PeerIdentityError("from the other copy");
  assert.ok(e instanceof own.PeerIdentityError);
  assert.ok(e instanceof own.P2PError);
  assert.equal(e instanceof own.TimeoutError, false);
  assert.equal(new Error("plain") instanceof own.P2PError, false);
  assert.equal(new own.TurnError("t", { server: "turn:x", reason: "quota" }) instanceof copy.TurnError, true);
});

test("a user's own subclass of P2PError matches its own errors only, not every p2pnode error", async () => {
  const { P2PError, TimeoutError } = await import("../src/errors.ts");
  class AppError extends P2PError {
    constructor(m: string) {
      super("APP_X", m);
    }
  }
  class AppTimeout extends TimeoutError {}
  assert.equal(new TimeoutError("t") instanceof AppError, false);
  assert.ok(new AppError("a") instanceof AppError);
  assert.ok(new AppError("a") instanceof P2PError);
  // A subclass of a library error: its instances are that error too.
  assert.ok(new AppTimeout("t") instanceof TimeoutError);
  assert.ok(new AppTimeout("t") instanceof AppTimeout);
});
