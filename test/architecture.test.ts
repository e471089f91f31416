/**
 * The layer rule of docs/architecture.md, checked on the source: every
 * relative import in src/ points down (or sideways where the table allows it),
 * and no source file grows past 400 lines.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";

const root = new URL("..", import.meta.url).pathname;
const src = join(root, "src");

/** Each module group and the groups it may import (besides itself). Keep in step with docs/architecture.md. */
export const LAYERS: Record<string, readonly string[]> = {
  cli: ["facade", "transfer", "connect", "server", "strategies", "turn", "rudp", "pipe", "session", "signaling", "nat", "portmap", "stun", "identity", "util"],
  facade: ["transfer", "connect", "server", "strategies", "turn", "rudp", "pipe", "session", "signaling", "nat", "portmap", "stun", "identity", "util"],
  connect: ["strategies", "turn", "rudp", "pipe", "session", "signaling", "nat", "stun", "identity", "util"],
  server: ["strategies", "pipe", "session", "identity", "util"],
  strategies: ["turn", "rudp", "pipe", "session", "signaling", "nat", "stun", "identity", "util"],
  transfer: ["pipe", "identity", "util"],
  pipe: ["session", "identity", "util"],
  session: ["identity", "util"],
  signaling: ["identity", "util"],
  portmap: ["nat", "stun", "identity", "util"],
  turn: ["stun", "identity", "util"],
  rudp: ["pipe", "util"],
  nat: ["stun", "identity", "util"],
  stun: ["util"],
  identity: ["util"],
  util: [],
};

/** The group of a file under src/. */
export function groupOf(file: string): string {
  const rel = relative(src, file).split("\\").join("/");
  if (rel === "errors.ts") return "util";
  if (rel === "cli.ts") return "cli";
  if (!rel.includes("/")) return "facade";
  return rel.slice(0, rel.indexOf("/"));
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : n.endsWith(".ts") ? [p] : [];
  });
}

const files = walk(src);

test("every src file belongs to a known layer", () => {
  for (const f of files) assert.ok(groupOf(f) in LAYERS, `${relative(root, f)}: folder ${groupOf(f)} is not in the layer table`);
});

test("imports point down the layers (docs/architecture.md)", () => {
  const bad: string[] = [];
  for (const f of files) {
    const from = groupOf(f);
    const text = readFileSync(f, "utf8");
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
      const target = resolve(dirname(f), m[1]);
      if (!target.startsWith(src)) {
        bad.push(`${relative(root, f)} imports ${m[1]}, outside src/`);
        continue;
      }
      const to = groupOf(target);
      if (to !== from && !LAYERS[from]?.includes(to)) bad.push(`${relative(root, f)} (${from}) imports ${relative(root, target)} (${to})`);
    }
  }
  assert.deepEqual(bad, []);
});

test("no source file is over 400 lines", () => {
  const long = files.map((f) => [relative(root, f), readFileSync(f, "utf8").split("\n").length - 1] as const).filter(([, n]) => n > 400);
  assert.deepEqual(long, []);
});

test("the rule itself catches an upward import", () => {
  assert.equal(groupOf(join(src, "strategies/punch/session.ts")), "strategies");
  assert.equal(groupOf(join(src, "node.ts")), "facade");
  assert.equal(LAYERS.strategies.includes("connect"), false);
  assert.equal(LAYERS.util.length, 0);
});
