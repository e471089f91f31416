#!/usr/bin/env node
// After `tsc -p tsconfig.build.json`: tsc rewrites ".ts" to ".js" in the emitted
// JavaScript (rewriteRelativeImportExtensions) but not in declaration files
// (microsoft/TypeScript#61037), and TypeScript before 5.7 or other tools reading
// our .d.ts would not resolve "./node.ts" there. Rewrites relative specifiers only.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("../dist", import.meta.url).pathname;
const SPEC = /((?:from|import)\s*\(?\s*["'])(\.{1,2}\/[^"']+?)\.ts(["'])/g;
let files = 0;
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith(".d.ts")) {
      const text = readFileSync(p, "utf8");
      const out = text.replace(SPEC, "$1$2.js$3");
      if (out !== text) writeFileSync(p, out), files++;
    }
  }
};
walk(root);
if (process.env.P2PNODE_BUILD_VERBOSE) process.stderr.write(`rewrote relative .ts imports in ${files} declaration files\n`); // stdout stays clean: `npm pack --json` prints there
