/**
 * The API reference (docs/api/, `npm run docs`, TypeDoc): every public name
 * has a doc comment, TypeDoc documents exactly the package's entry points, and
 * the build works.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { entryPoints, publicNames, root } from "./exports.ts";

test("every name the package exports has a doc comment", () => {
  const names = publicNames();
  assert.ok(names.length >= 60, `found the exports (${names.length})`);
  for (const must of ["startNode", "Node", "Pipe", "parseAddress", "P2PError", "ConnectError", "TurnStrategy"]) {
    assert.ok(names.some((n) => n.name === must), `${must} is among the exports`);
  }
  const missing = names.filter((n) => !n.documented).map((n) => `${n.name} (${n.where}, exported by ${n.entry})`);
  assert.deepEqual(missing, [], "add a /** … */ comment above each of these declarations");
});

test("the checker sees an undocumented export (it does not pass everything)", async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "p2pnode-docs-"));
  try {
    writeFileSync(join(dir, "a.ts"), `/** Documented. */\nexport const yes = 1;\nexport const no = 2;\n`);
    writeFileSync(join(dir, "index.ts"), `export * from "./a.ts";\n/** Documented too. */\nexport function f(): void {}\n`);
    const names = publicNames([join(dir, "index.ts")]);
    assert.deepEqual(names.map((n) => [n.name, n.documented]).sort(), [["f", true], ["no", false], ["yes", true]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("typedoc.json documents exactly the entry points of package.json \"exports\"", () => {
  const config = JSON.parse(readFileSync(join(root, "typedoc.json"), "utf8")) as { entryPoints: string[]; out: string };
  assert.deepEqual([...config.entryPoints].sort(), entryPoints().sort());
  assert.equal(config.out, "docs/api");
  assert.match(readFileSync(join(root, ".gitignore"), "utf8"), /^\/?docs\/api\/?$/m, "generated output is never committed");
});

const typedocInstalled = existsSync(join(root, "node_modules/typedoc/package.json"));

test("npm run docs builds the reference into docs/api/", { skip: !typedocInstalled && "typedoc is not installed (npm install)", timeout: 120_000 }, async () => {
  const started = Date.now();
  const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
    // Without the test runner's preload: TypeDoc runs as `npm run docs` runs it for a user.
    const env = { ...process.env, NODE_OPTIONS: "" };
    const c = spawn("npm", ["run", "--silent", "docs"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.stderr.on("data", (d) => (out += d));
    const killer = setTimeout(() => c.kill("SIGKILL"), 110_000);
    c.on("close", (code) => {
      clearTimeout(killer);
      resolve({ code, out });
    });
  });
  assert.equal(r.code, 0, r.out);
  const index = join(root, "docs/api/index.html");
  assert.ok(existsSync(index) && statSync(index).mtimeMs >= started - 1000, "docs/api/index.html was written");
  // TypeDoc's own check covers members too (methods, accessors): none undocumented.
  assert.doesNotMatch(r.out, /does not have any documentation/, r.out);
  for (const page of ["functions/startNode.html", "classes/Node.html", "classes/Pipe.html", "classes/ConnectError.html", "documents/docs_troubleshooting.html"]) {
    assert.ok(existsSync(join(root, "docs/api", page)), `docs/api/${page}`);
  }
  assert.match(readFileSync(join(root, "docs/api/classes/Pipe.html"), "utf8"), /Ends a subscription/, "doc comments reach the pages");
  // docs/*.md are pages of the reference too, their links rewritten between them.
  assert.match(readFileSync(join(root, "docs/api/documents/docs_troubleshooting.html"), "utf8"), /href="docs_errors\.html"/);
});
