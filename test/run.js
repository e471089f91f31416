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
// The guard is test infrastructure (the library never patches net): every node
// process a test starts (fixtures, the CLI, lab hosts, a packed app) inherits it
// through NODE_OPTIONS, with tsx so it can load from its .ts source.
const preload = [`--import ${import.meta.resolve("tsx")}`, `--import ${new URL("./support/guard-preload.mjs", import.meta.url).href}`];
const env = {
  ...process.env,
  P2PNODE_NET_GUARD: process.env.P2PNODE_NET_GUARD ?? "loopback",
  NODE_OPTIONS: [process.env.NODE_OPTIONS, ...preload].filter(Boolean).join(" "),
};
const res = spawnSync(
  process.execPath,
  ["--test", "--test-concurrency=1", "--test-timeout=600000", ...files],
  { cwd: root, stdio: "inherit", env },
);
process.exit(res.status ?? 1);
