/**
 * The published package, as a user gets it: `npm pack` (which runs `prepare`, the
 * build), installed into a fresh app, then used from plain Node (.mjs), from a
 * strict TypeScript app (`tsc --noEmit`, NodeNext, no allowImportingTsExtensions)
 * and through the installed `p2pnode` command.
 *
 * No registry access: the app gets a package-lock.json made from ours (the same
 * resolved versions and integrity hashes) and `npm ci --offline` takes every
 * tarball from the npm cache, which `npm ci` in this checkout filled. Everything
 * the apps do stays on 127.0.0.1 (and the network guard is on in every child).
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, test } from "node:test";
import { createInterface } from "node:readline";

const root = new URL("..", import.meta.url).pathname;
const tsc = join(root, "node_modules/.bin/tsc");
/** README.md's ```ts blocks, exactly as written (test/readme.test.ts runs them against the sources). */
const readmeSnippets = [...readFileSync(join(root, "README.md"), "utf8").matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
// npm runs without the runner's NODE_OPTIONS (tsx + the guard: under them npm pack hangs);
// the packed app runs as plain Node with only the guard, loaded by guard-preload.mjs.
const GUARD = `--import ${new URL("./support/guard-preload.mjs", import.meta.url).href}`;
const env = { ...process.env, NODE_OPTIONS: GUARD, P2PNODE_NET_GUARD: "loopback", npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false" };
const npmEnv = { ...env, NODE_OPTIONS: "" };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(cmd: string, args: string[], cwd: string, timeout = 120_000): Promise<Run> {
  const runEnv = cmd === "npm" ? npmEnv : env;
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: runEnv, timeout, maxBuffer: 64 << 20, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

interface PackedFile {
  path: string;
  size: number;
}
interface PackResult {
  filename: string;
  entryCount: number;
  size: number;
  unpackedSize: number;
  files: PackedFile[];
}

let tmp = "";
let app = "";
let packed: PackResult;
const children = new Set<import("node:child_process").ChildProcess>();

/** The app's package-lock.json: our tarball plus exactly the packages our lock resolves for its dependencies. */
function appLock(tgz: string, appPkg: { dependencies: Record<string, string>; devDependencies: Record<string, string> }) {
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as { packages: Record<string, Record<string, unknown>> };
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const pk = lock.packages;
  const resolve = (from: string, name: string): string | undefined => {
    let dir = from;
    for (;;) {
      const p = `${dir ? `${dir}/` : ""}node_modules/${name}`;
      if (pk[p]) return p;
      if (!dir) return undefined;
      const i = dir.lastIndexOf("/node_modules/");
      dir = i < 0 ? "" : dir.slice(0, i);
    }
  };
  const need = new Set<string>();
  const walk = (from: string, deps: unknown, optional: boolean) => {
    for (const name of Object.keys((deps as Record<string, string>) ?? {})) {
      const p = resolve(from, name);
      if (!p) {
        if (optional) continue;
        throw new Error(`${name} (needed by ${from || "p2pnode"}) is not in package-lock.json: run npm install`);
      }
      if (need.has(p)) continue;
      need.add(p);
      walk(p, pk[p].dependencies, false);
      walk(p, pk[p].optionalDependencies, true);
    }
  };
  walk("", pkg.dependencies, false);
  walk("", appPkg.devDependencies, false);
  const file = basename(tgz);
  const packages: Record<string, unknown> = {
    "": { name: "app", version: "1.0.0", dependencies: appPkg.dependencies, devDependencies: appPkg.devDependencies },
    "node_modules/p2pnode": {
      version: pkg.version,
      resolved: `file:${file}`,
      integrity: `sha512-${createHash("sha512").update(readFileSync(tgz)).digest("base64")}`,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const p of [...need].sort()) {
    const { dev: _d, devOptional: _o, peer: _p, ...entry } = pk[p];
    packages[p] = entry;
  }
  return { name: "app", version: "1.0.0", lockfileVersion: 3, requires: true, packages };
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), "p2pnode-pkg-"));
  const pack = await run("npm", ["pack", "--json", "--pack-destination", tmp], root);
  assert.equal(pack.code, 0, `npm pack failed:\n${pack.stderr}`);
  packed = (JSON.parse(pack.stdout) as PackResult[])[0];

  app = join(tmp, "app");
  mkdirSync(app);
  const tgz = join(tmp, packed.filename);
  copyFileSync(tgz, join(app, packed.filename));
  const ourPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const appPkg = {
    name: "app",
    version: "1.0.0",
    private: true,
    type: "module",
    dependencies: { p2pnode: `file:${packed.filename}` },
    devDependencies: { "@types/node": ourPkg.devDependencies["@types/node"] as string },
  };
  writeFileSync(join(app, "package.json"), JSON.stringify(appPkg, null, 2));
  writeFileSync(join(app, "package-lock.json"), JSON.stringify(appLock(tgz, appPkg), null, 2));
  const install = await run("npm", ["ci", "--offline", "--no-audit", "--no-fund"], app);
  assert.equal(
    install.code,
    0,
    `npm ci --offline in the temporary app failed${/ENOTCACHED/.test(install.stderr) ? " (a dependency is missing from the npm cache: run `npm ci` in the checkout first)" : ""}:\n${install.stderr}`,
  );
});

after(() => {
  for (const c of children) c.kill("SIGKILL");
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test("the tarball holds the compiled package only: dist/, the bin, package.json, README", (t) => {
  const paths = packed.files.map((f) => f.path);
  t.diagnostic(`${packed.filename}: ${packed.entryCount} files, ${(packed.size / 1000).toFixed(0)} kB packed, ${(packed.unpackedSize / 1000).toFixed(0)} kB unpacked`);
  for (const p of paths) assert.match(p, /^(dist\/(src|strategies)\/.+\.(js|d\.ts)|bin\/p2pnode\.js|package\.json|README\.md|LICENSE(\.\w+)?)$/, `unexpected file in the tarball: ${p}`);
  for (const p of ["dist/src/index.js", "dist/src/index.d.ts", "dist/src/cli.js", "dist/strategies/direct.js", "bin/p2pnode.js"]) assert.ok(paths.includes(p), `missing ${p}`);
  const installed = JSON.parse(readFileSync(join(app, "node_modules/p2pnode/package.json"), "utf8"));
  assert.deepEqual(installed.exports["."], { types: "./dist/src/index.d.ts", default: "./dist/src/index.js" });
  assert.equal(installed.dependencies.tsx, undefined, "tsx is only for development");
  assert.ok(!existsSync(join(app, "node_modules/tsx")), "nothing installs tsx");
});

test("plain Node (.mjs): two loopback nodes connect, talk, close, and the process exits 0", async () => {
  writeFileSync(
    join(app, "main.mjs"),
    `import { startNode, parseAddress } from "p2pnode";
const a = await startNode({ host: "127.0.0.1" });
a.onMessage((msg, pipe) => pipe.send(msg.text.toUpperCase()));
if (parseAddress(a.addr).id !== a.id) throw new Error("parseAddress: wrong id");
const b = await startNode({ host: "127.0.0.1" });
const pipe = await b.connect(a.addr, { timeout: 10000 });
await pipe.send("hello");
const reply = await pipe.recv({ timeout: 5000 });
console.log(JSON.stringify({ from: import.meta.resolve("p2pnode"), strategy: pipe.strategy, reply: reply.text }));
await pipe.close();
await b.close();
await a.close();
`,
  );
  const r = await run(process.execPath, ["main.mjs"], app, 30_000);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim());
  assert.equal(out.from, `file://${join(app, "node_modules/p2pnode/dist/src/index.js")}`);
  assert.equal(out.strategy, "direct");
  assert.equal(out.reply, "HELLO");
  // CommonJS apps, where Node can require ES modules (20.19+), as the README says.
  if ((process.features as { require_module?: boolean }).require_module) {
    const cjs = await run(process.execPath, ["-e", `const p = require("p2pnode"); if (typeof p.startNode !== "function") process.exit(1)`], app);
    assert.equal(cjs.code, 0, cjs.stderr);
  }
});

test("README's snippets, as written, run from plain Node in the app (saved as .mjs, as the README says)", async () => {
  assert.ok(readmeSnippets.length >= 1);
  for (const [i, code] of readmeSnippets.entries()) {
    writeFileSync(join(app, `readme-${i}.mjs`), code);
    const r = await run(process.execPath, [`readme-${i}.mjs`], app, 30_000);
    assert.equal(r.code, 0, `README snippet ${i + 1} in the app: ${r.stderr}`);
    if (/"direct hello"/.test(code)) assert.match(r.stdout, /^direct hello$/m);
  }
});

test("strict TypeScript (NodeNext, no allowImportingTsExtensions): the declarations type-check and are precise", async () => {
  writeFileSync(
    join(app, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: false, types: ["node"] },
      files: ["main.ts", ...readmeSnippets.map((_, i) => `readme-${i}.ts`)],
    }),
  );
  writeFileSync(
    join(app, "main.ts"),
    `import { startNode, parseAddress, P2PError, type Node, type NodeAddress, type Pipe, type Message, type NodeOptions } from "p2pnode";
const opts: NodeOptions = { host: "127.0.0.1", port: 0 };
const node: Node = await startNode(opts);
const addr: NodeAddress = parseAddress(node.addr);
const id: string = addr.id;
node.onMessage(async (msg: Message, pipe: Pipe) => {
  await pipe.send(msg.isText ? msg.text : msg.data);
});
try {
  const pipe: Pipe = await node.connect(node.addr, { timeout: 1000 });
  const reply: Message = await pipe.recv({ timeout: 1000 });
  console.log(id, reply.text, pipe.strategy);
} catch (err) {
  if (err instanceof P2PError) console.log(err.code);
}
// @ts-expect-error the port is a number: the declarations are not \`any\`
await startNode({ port: "4000" });
await node.close();
`,
  );
  for (const [i, code] of readmeSnippets.entries()) writeFileSync(join(app, `readme-${i}.ts`), code);
  const r = await run(tsc, ["-p", "tsconfig.json"], app);
  assert.equal(r.code, 0, `tsc --noEmit failed:\n${r.stdout}${r.stderr}`);
});

test("the installed p2pnode command runs the compiled CLI: --help, and listen + connect on loopback", async (t) => {
  const bin = join(app, "node_modules/.bin/p2pnode");
  const help = await run(bin, ["--help"], app);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /Usage: p2pnode/);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) times.push((await run(bin, ["--help"], app)).ms);
  const node = await run(process.execPath, ["-e", "0"], app);
  times.sort((x, y) => x - y);
  // A timing for the report, not an assertion: this machine may be loaded.
  t.diagnostic(`installed p2pnode --help: median ${times[2].toFixed(0)} ms (min ${times[0].toFixed(0)}); bare node -e 0: ${node.ms.toFixed(0)} ms`);

  // What keeps --help fast: the compiled CLI, and no heavy module (logger, MQTT, broker,
  // port mapping, curves) loaded before a command runs. Recorded by a module-load hook.
  writeFileSync(join(app, "trace-hooks.mjs"), `import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  if (url.startsWith("file:")) appendFileSync(process.env.P2PNODE_TRACE_FILE, url + "\\n");
  return next(url, context);
}
`);
  writeFileSync(join(app, "trace.mjs"), `import { register } from "node:module";\nregister("./trace-hooks.mjs", import.meta.url);\n`);
  for (const args of [["--help"], ["listen", "--help"], ["connect", "--help"], ["nat", "--help"], ["stun", "--help"], ["signal", "--help"]]) {
    const traceFile = join(tmp, `trace-${args.join("-")}.txt`);
    const r = await new Promise<Run>((resolve) => {
      execFile(process.execPath, ["--import", "./trace.mjs", join(app, "node_modules/p2pnode/bin/p2pnode.js"), ...args], { cwd: app, env: { ...env, P2PNODE_TRACE_FILE: traceFile }, encoding: "utf8" }, (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, stdout, stderr, ms: 0 }),
      );
    });
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    const loaded = readFileSync(traceFile, "utf8").split("\n").filter(Boolean);
    assert.ok(loaded.some((u) => u.endsWith("/node_modules/p2pnode/dist/src/cli.js")), `${args.join(" ")} runs dist/src/cli.js`);
    const heavy = loaded.filter((u) => /\/node_modules\/(winston|mqtt|aedes|@achingbrain|@noble|tsx)\//.test(u) || /\/dist\/src\/(node|logger|identity|address)\.js$/.test(u));
    assert.deepEqual(heavy, [], `p2pnode ${args.join(" ")} loads modules it does not need (import them inside the command's action)`);
  }

  const listener = spawn(bin, ["listen", "--host", "127.0.0.1", "--echo", "--json"], { cwd: app, env, stdio: ["ignore", "pipe", "pipe"] });
  children.add(listener);
  const addr = await new Promise<string>((resolve, reject) => {
    createInterface({ input: listener.stdout }).on("line", (l) => {
      const e = JSON.parse(l);
      if (e.event === "ready") resolve(e.addr);
    });
    listener.once("exit", (code) => reject(new Error(`listen exited early (${code})`)));
  });
  const c = await run(bin, ["connect", addr, "--host", "127.0.0.1", "--send", "hi"], app, 30_000);
  assert.equal(c.code, 0, c.stderr);
  assert.equal(c.stdout, "hi\n");
  listener.kill("SIGTERM");
  await new Promise((r) => listener.once("exit", r));
  children.delete(listener);
});
