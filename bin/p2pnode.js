#!/usr/bin/env node
// The p2pnode CLI. An installed package runs the compiled JavaScript (dist/, built by
// `npm run build`, which `prepare` runs on `npm install`/`npm pack`). A development
// checkout (src/ is present: the published package holds only dist/ and bin/) runs the
// TypeScript sources through tsx instead, so `npx p2pnode` and the CLI tests always see
// the current sources, never a stale build; without tsx it falls back to dist/.
import { existsSync } from "node:fs";

const sources = new URL("../src/cli.ts", import.meta.url);
const compiled = new URL("../dist/src/cli.js", import.meta.url);

async function loadTsx() {
  try {
    return await import("tsx/esm/api");
  } catch {
    return undefined; // tsx is a devDependency: absent from an installed package
  }
}

// tsx already loaded by the process (--import tsx, as the test runner's NODE_OPTIONS does):
// registering its hooks a second time could deadlock the module loader, and is not needed.
const preloaded = /\btsx\b/.test([...process.execArgv, process.env.NODE_OPTIONS ?? ""].join(" "));
const tsx = existsSync(sources) && !preloaded ? await loadTsx() : undefined;
if (preloaded && existsSync(sources)) {
  await import(sources.href);
} else if (tsx) {
  tsx.register();
  await import(sources.href);
} else if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  process.stderr.write("p2pnode: dist/ is missing: run `npm run build` (or `npm install`, which builds)\n");
  process.exitCode = 1;
}
