#!/usr/bin/env node
// `npm test`: runs every test/**/*.test.ts on Node's own runner (which neither
// expands globs nor finds .ts files by itself), with tsx and the network guard.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const only = process.argv.slice(2);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith(".test.ts")) out.push(relative(root, p));
  }
  return out;
}

let files = walk(join(root, "test"));
if (only.length) files = files.filter((f) => only.some((o) => f.includes(o)));
const env = { ...process.env, P2PNODE_NET_GUARD: process.env.P2PNODE_NET_GUARD ?? "loopback" };
const res = spawnSync(
  process.execPath,
  ["--import", "tsx", "--import", "./test/support/guard.ts", "--test", "--test-concurrency=1", "--test-timeout=600000", ...files],
  { cwd: root, stdio: "inherit", env },
);
process.exit(res.status ?? 1);
