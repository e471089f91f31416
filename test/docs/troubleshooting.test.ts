/** docs/troubleshooting.md covers every error code of src/errors.ts, and names no code that does not exist. */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import * as errors from "../../src/errors.ts";

const root = new URL("../..", import.meta.url).pathname;
const page = readFileSync(join(root, "docs/troubleshooting.md"), "utf8");
const classes = (Object.values(errors) as unknown[]).filter(
  (v): v is { name: string; code: string } => typeof v === "function" && typeof (v as { code?: unknown }).code === "string",
);
const codes = new Set(classes.map((c) => c.code));
/** Codes the CLI prints for errors that are not p2pnode errors (checked to exist in src/cli below). */
const OUTSIDE = ["P2P_ERR_UNKNOWN"];

test("every error code has its own section: heading, what it means, causes, what to do", () => {
  assert.ok(codes.size >= 20, `found the codes (${codes.size})`);
  const sections = page.split(/^### /m).slice(1);
  for (const c of classes) {
    const s = sections.find((x) => x.startsWith("`" + c.code + "`"));
    assert.ok(s, `docs/troubleshooting.md has no "### \`${c.code}\` — ${c.name}" section`);
    assert.match(s.split("\n")[0], new RegExp(`\\b${c.name}\\b`), `${c.code}'s heading names its class ${c.name}`);
    for (const part of ["**Means:**", "**Usual causes", "**What to do:**"]) assert.ok(s.includes(part), `${c.code}: the section has ${part}`);
  }
});

test("the page names no error code that does not exist", () => {
  const named = new Set(page.match(/P2P_ERR_[A-Z0-9_]+/g) ?? []);
  const unknown = [...named].filter((c) => !codes.has(c) && !OUTSIDE.includes(c));
  assert.deepEqual(unknown, [], "codes on the page that src/errors.ts does not define");
});

test("the codes outside the error classes are really printed by the CLI", () => {
  const walk = (d: string): string[] => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
  const cli = [join(root, "src/cli.ts"), ...walk(join(root, "src/cli"))].map((f) => readFileSync(f, "utf8")).join("\n");
  for (const c of OUTSIDE) assert.ok(cli.includes(`"${c}"`), `${c} is printed by src/cli`);
});

