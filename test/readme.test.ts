/**
 * Every fenced block of README.md is extracted and run (or, where it cannot run
 * here, checked), so the README cannot drift from the code.
 *
 * - ```ts blocks run as a module against the local sources (`from "p2pnode"` is
 *   pointed at src/index.ts): each must exit 0 by itself, and every
 *   `console.log(…) // "text"` comment must match a printed line ("…" = anything).
 *   (test/package.test.ts also type-checks and runs them, as written, in an app
 *   that installed the packed package.)
 * - ```sh blocks: every `npx p2pnode …` line is first parsed against the CLI's own
 *   commander definitions (an unknown flag, a bad value or a missing argument
 *   fails), then executed on loopback: placeholders (p2pn1…, NODE_ID, H/HOST,
 *   IP) are replaced by a throwaway echo peer, the README's own `stun` and
 *   `signal` servers (on free ports) and 127.0.0.2; `listen`/`connect` get
 *   `--host 127.0.0.1` so nothing listens beyond loopback or asks a gateway for
 *   a port. `npm run demo` runs; `npm install` (registry), `npm test` (this
 *   suite) and the `npm pack`/install lines (test/package.test.ts does them)
 *   are only checked. The last test prints which lines ran and which were checked.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, test } from "node:test";
import { pathToFileURL } from "node:url";
import { Command } from "commander";

const root = new URL("..", import.meta.url).pathname;
const bin = join(root, "bin/p2pnode.js");
const readme = readFileSync(join(root, "README.md"), "utf8");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const env = { ...process.env, P2PNODE_NET_GUARD: "loopback" };
const tmp = mkdtempSync(join(tmpdir(), "p2pnode-readme-"));
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
});

interface Block {
  lang: string;
  code: string;
  line: number;
}
const blocks: Block[] = [...readme.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({
  lang: m[1],
  code: m[2],
  line: readme.slice(0, m.index).split("\n").length,
}));

/** What happened to each README line: for the report at the end. */
const report: string[] = [];

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  bytes: Buffer;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { input?: string | Buffer; timeout?: number; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { cwd: opts.cwd ?? root, env, stdio: ["pipe", "pipe", "pipe"] });
    children.add(c);
    const out: Buffer[] = [];
    let stderr = "";
    c.stdout.on("data", (d: Buffer) => out.push(d));
    c.stderr.on("data", (d) => (stderr += d));
    c.stdin.on("error", () => {}); // a command that does not read stdin
    c.stdin.end(opts.input ?? "");
    const timer = setTimeout(() => c.kill("SIGKILL"), opts.timeout ?? 60_000);
    c.on("exit", (code, signal) => {
      clearTimeout(timer);
      children.delete(c);
      const bytes = Buffer.concat(out);
      resolve({ code, signal, stdout: bytes.toString("utf8"), bytes, stderr });
    });
  });
}

/** Starts a long-running CLI command and resolves with its first stdout line (`next()` reads more). */
async function start(args: string[], timeout = 30_000, cwd = root): Promise<{ c: ChildProcess; first: string; next: () => Promise<string>; stderr: () => string }> {
  const c = spawn(process.execPath, [bin, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  children.add(c);
  let stderr = "";
  c.stderr!.on("data", (d) => (stderr += d));
  const lines = createInterface({ input: c.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      lines.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`p2pnode ${args.join(" ")}: nothing on stdout within ${timeout} ms\n${stderr}`)), timeout);
      }),
    ]).finally(() => clearTimeout(timer));
    if (r.done) throw new Error(`p2pnode ${args.join(" ")} exited (${c.exitCode}) before printing:\n${stderr}`);
    return r.value;
  };
  return { c, first: await next(), next, stderr: () => stderr };
}

async function stop(c: ChildProcess): Promise<number | null> {
  if (c.exitCode !== null) return c.exitCode;
  const exited = new Promise<number | null>((r) => c.once("exit", (code) => r(code)));
  c.kill("SIGTERM");
  const code = await exited;
  children.delete(c);
  return code;
}

interface ShCommand {
  text: string;
  /** The words, without redirections. */
  words: string[];
  /** `< file` and `> file`. */
  stdin?: string;
  stdout?: string;
  line: number;
}

/** `npx p2pnode …` lines and other commands, comments removed, `a && b` split, `< in` / `> out` taken out. */
function shCommands(): ShCommand[] {
  const out: ShCommand[] = [];
  for (const b of blocks.filter((x) => x.lang === "sh")) {
    b.code.split("\n").forEach((raw, i) => {
      const text = raw.replace(/(^|\s)#.*$/, "").trim();
      if (!text) return;
      for (const part of text.split("&&")) {
        const all = part.trim().split(/\s+/);
        const cmd: ShCommand = { text: part.trim(), words: [], line: b.line + 1 + i };
        for (let k = 0; k < all.length; k++) {
          if (all[k] === "<") cmd.stdin = all[++k];
          else if (all[k] === ">") cmd.stdout = all[++k];
          else {
            assert.ok(!/[<>|;$`'"]/.test(all[k]), `README.md:${cmd.line}: \`${cmd.text}\`: teach test/readme.test.ts this shell syntax`);
            cmd.words.push(all[k]);
          }
        }
        out.push(cmd);
      }
    });
  }
  return out;
}

class Parsed extends Error {
  constructor(readonly command: string) {
    super(`parsed: ${command}`);
  }
}

/** The CLI's real commands (every `register` that src/cli.ts imports), with actions replaced by a stop. */
async function cliProgram(): Promise<Command> {
  const program = new Command().name("p2pnode").exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  const cli = readFileSync(join(root, "src/cli.ts"), "utf8");
  const modules = [...cli.matchAll(/import \{ register as \w+ \} from "\.\/(cli\/[\w-]+\.ts)"/g)].map((m) => m[1]);
  assert.ok(modules.length >= 5, "found the CLI's commands in src/cli.ts");
  for (const m of modules) ((await import(pathToFileURL(join(root, "src", m)).href)) as { register(p: Command): void }).register(program);
  program.hook("preAction", (_p, cmd) => {
    throw new Parsed(cmd.name());
  });
  return program;
}

test("README: every fenced block is ts or sh (so every one is run here)", () => {
  assert.ok(blocks.length >= 4, "found the README's blocks");
  for (const b of blocks) assert.ok(b.lang === "ts" || b.lang === "sh", `README.md:${b.line}: a \`\`\`${b.lang || "(no language)"} block: teach test/readme.test.ts to run it`);
  for (const m of readme.matchAll(/p2pnode-(\d+\.\d+\.\d+[\w.-]*)\.tgz/g)) assert.equal(m[1], pkg.version, "the tarball name in the README has the current version");
});

test("README: the ts snippets run against the sources, print what their comments say, and exit 0", async () => {
  const ts = blocks.filter((b) => b.lang === "ts");
  assert.ok(ts.length >= 1);
  for (const [i, b] of ts.entries()) {
    assert.match(b.code, /from "p2pnode"/, `README.md:${b.line}: the snippet imports "p2pnode"`);
    const file = join(tmp, `snippet-${i}.mts`);
    writeFileSync(file, b.code.replaceAll(`from "p2pnode"`, `from ${JSON.stringify(pathToFileURL(join(root, "src/index.ts")).href)}`));
    const r = await run(process.execPath, ["--import", "tsx", file], { timeout: 30_000 });
    assert.equal(r.signal, null, `README.md:${b.line}: the snippet did not exit by itself within 30 s`);
    assert.equal(r.code, 0, `README.md:${b.line}: ${r.stderr}`);
    const lines = r.stdout.trim().split("\n");
    for (const m of b.code.matchAll(/console\.log\(.*\/\/\s*"([^"]+)"/g)) {
      const want = new RegExp(`^${m[1].split("…").map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".+")}$`);
      assert.ok(lines.some((l) => want.test(l)), `README.md:${b.line}: no printed line is ${JSON.stringify(m[1])}:\n${r.stdout}`);
    }
    report.push(`README.md:${b.line} ts snippet: executed (against src/)`);
  }
});

test("README: every npx p2pnode line parses against the CLI's definitions", async () => {
  const lines = shCommands().filter((c) => c.words[0] === "npx");
  assert.ok(lines.length >= 5);
  for (const l of lines) {
    assert.equal(l.words[1], "p2pnode", `README.md:${l.line}: npx runs p2pnode`);
    const program = await cliProgram();
    await assert.rejects(
      program.parseAsync(["node", "p2pnode", ...l.words.slice(2)]),
      (err: unknown) => {
        if (!(err instanceof Parsed)) assert.fail(`README.md:${l.line}: \`${l.text}\`: ${(err as Error).message}`);
        return err instanceof Parsed && err.command === l.words[2];
      },
      `README.md:${l.line}: \`${l.text}\` reaches the ${l.words[2]} command`,
    );
  }
});

test("README: the npm lines", async () => {
  for (const l of shCommands().filter((c) => c.words[0] === "npm")) {
    const [, sub, ...rest] = l.words;
    const where = `README.md:${l.line}: \`${l.text}\``;
    if (sub === "install" && rest.length === 0) {
      assert.ok(existsSync(join(root, "package-lock.json")), `${where}: package-lock.json exists`);
      report.push(`${where}: checked only (needs the registry; package.json and package-lock.json are there)`);
    } else if (sub === "install" || sub === "pack") {
      report.push(`${where}: checked only (test/package.test.ts packs and installs the tarball into a fresh app)`);
    } else if (sub === "test") {
      assert.ok(pkg.scripts.test, `${where}: package.json has a test script`);
      report.push(`${where}: checked only (the script exists; it runs this suite)`);
    } else if (sub === "run" && rest[0] === "demo") {
      assert.ok(pkg.scripts.demo, `${where}: package.json has a demo script`);
      const r = await run("npm", ["run", "--silent", "demo"], { timeout: 120_000 });
      assert.equal(r.code, 0, `${where}: ${r.stderr}`);
      assert.match(r.stdout, /All closed/);
      report.push(`${where}: executed`);
    } else if (sub === "run") {
      assert.ok(pkg.scripts[rest[0]], `${where}: package.json has the script`);
      report.push(`${where}: checked only (the script exists)`);
    } else {
      assert.fail(`${where}: teach test/readme.test.ts to run or check this line`);
    }
  }
  for (const l of shCommands()) assert.ok(l.words[0] === "npm" || l.words[0] === "npx", `README.md:${l.line}: \`${l.text}\`: teach test/readme.test.ts to run it`);
});

test("README: the npx p2pnode lines run on loopback", async () => {
  const lines = shCommands().filter((c) => c.words[0] === "npx" && c.words[1] === "p2pnode");
  const cmd = (l: { words: string[] }) => l.words[2];
  const withPort0 = (w: string[]) => w.map((x, i) => (/^\d+$/.test(x) && /^(-p|--port|--alt-port)$/.test(w[i - 1] ?? "") ? "0" : x)).map((x) => (x === "IP" ? "127.0.0.2" : x));

  // The README's own servers first (on free ports): the other lines use them as H/HOST.
  const servers: ChildProcess[] = [];
  let stunUri = "";
  let brokerUrl = "";
  const isServer = (l: { words: string[] }) => cmd(l) === "stun" || cmd(l) === "signal" || cmd(l) === "turn";
  for (const l of lines.filter(isServer)) {
    const args = withPort0(l.words.slice(2));
    const s = await start(args);
    servers.push(s.c);
    if (cmd(l) === "turn") {
      // The relay: test/cli/cli-turn.test.ts connects through it; here it must start as written.
      assert.match(s.first, /^TURN relay ready: turn:[\d.]+:\d+/, `README.md:${l.line}: \`${l.text}\` said where it listens`);
      report.push(`README.md:${l.line}: \`${l.text}\`: executed with ${args.join(" ")} (free ports)`);
      continue;
    }
    if (cmd(l) === "stun") stunUri = /stun:[\d.]+:\d+/.exec(s.first)?.[0] ?? "";
    else brokerUrl = /mqtt:\/\/[\d.]+:\d+/.exec(s.first)?.[0] ?? "";
    assert.ok(cmd(l) === "stun" ? stunUri : brokerUrl, `README.md:${l.line}: \`${l.text}\` said where it listens: ${s.first}`);
    report.push(`README.md:${l.line}: \`${l.text}\`: executed with ${args.join(" ")} (free ports)`);
  }
  assert.ok(stunUri && brokerUrl, "the README shows a stun and a signal server");

  // A throwaway echo peer: it is p2pn1… and NODE_ID.
  const peer = await start(["listen", "--host", "127.0.0.1", "--echo", "--json", "--signal", brokerUrl]);
  let ready = JSON.parse(peer.first) as { event: string; addr: string; id: string };
  while (ready.event !== "ready") ready = JSON.parse(await peer.next());
  const { addr, id } = ready;

  // Files the lines name (in.bin, big.json, …) live in a scratch directory, the commands' cwd.
  const work = join(tmp, "work");
  mkdirSync(work);
  const inputFor = (name: string, binary: boolean): Buffer => {
    const file = join(work, name);
    if (!existsSync(file)) writeFileSync(file, binary || name.endsWith(".bin") ? randomBytes(64 * 1024) : name.endsWith(".json") ? '{"hello":"world"}' : "one\ntwo\n");
    return readFileSync(file);
  };

  for (const l of lines.filter((x) => !isServer(x))) {
    const where = `README.md:${l.line}: \`${l.text}\``;
    let args = l.words.slice(2).map((w) =>
      w === "p2pn1…" ? addr : w === "NODE_ID" ? id : w.replace(/^stun:(H|HOST):\d+$/, stunUri).replace(/^mqtt:\/\/(H|HOST):\d+$/, brokerUrl),
    );
    assert.ok(!args.some((w) => /…|\b(H|HOST|IP|NODE_ID)\b/.test(w)), `${where}: every placeholder was replaced (${args.join(" ")})`);
    if ((cmd(l) === "listen" || cmd(l) === "connect") && !args.includes("--host")) args = [...args, "--host", "127.0.0.1"];
    const binary = args.includes("--binary");
    const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
    const redirects = `${l.stdin ? ` < ${l.stdin}` : ""}${l.stdout ? ` > ${l.stdout}` : ""}`;
    const shown = `executed as p2pnode ${args.join(" ").replace(addr, "<peer address>").replace(id, "<peer id>")}${redirects}`;
    if (cmd(l) === "listen") {
      assert.equal(l.stdin ?? l.stdout, undefined, `${where}: teach test/readme.test.ts redirections for listen`);
      const s = await start(args, 30_000, work);
      let first = s.first;
      if (args.includes("--json")) {
        const e = JSON.parse(first);
        if (!args.includes("--signal")) assert.equal(e.event, "ready", `${where}: the first line is the ready event`);
        else assert.ok(e.event === "ready" || e.event === "broker", `${where}: ${first}`);
        while (JSON.parse(first).event !== "ready") first = await s.next();
        first = JSON.parse(first).addr;
      }
      assert.match(first, /^p2pn1/, `${where}: prints this node's address`);
      const out = flag("--out");
      if (out) {
        // Send it a message (netcat mode: one line, then stdin ends) and find the data in the file.
        const r = await run(process.execPath, [bin, "connect", first, "--host", "127.0.0.1"], { input: "saved\n", cwd: work });
        assert.equal(r.code, 0, `${where}: a peer sends it a message: ${r.stderr}`);
        for (let i = 0; i < 100 && !(existsSync(join(work, out)) && readFileSync(join(work, out), "utf8") === "saved"); i++) await new Promise((res) => setTimeout(res, 100));
        assert.equal(readFileSync(join(work, out), "utf8"), "saved", `${where}: the message's data is in ${out}`);
      }
      assert.equal(await stop(s.c), 0, `${where}: exits 0 on SIGTERM\n${s.stderr()}`);
    } else if (cmd(l) === "connect") {
      const sendFile = flag("--send-file");
      const send = flag("--send");
      const input = l.stdin ? inputFor(l.stdin, binary) : sendFile || send !== undefined ? undefined : Buffer.from("one\ntwo\n");
      const payload = send !== undefined ? Buffer.from(send) : sendFile && sendFile !== "-" ? inputFor(sendFile, binary) : input!;
      const r = await run(process.execPath, [bin, ...args], { input, cwd: work });
      assert.equal(r.code, 0, `${where}: ${r.stderr}`);
      // The peer echoes: text replies are lines, binary data comes back byte for byte.
      const want = binary ? payload : send !== undefined || sendFile ? Buffer.concat([payload, Buffer.from("\n")]) : payload;
      assert.ok(r.bytes.equals(want), `${where}: got ${r.bytes.length} bytes back, expected ${want.length}: ${r.stdout.slice(0, 200)}`);
      if (l.stdout) writeFileSync(join(work, l.stdout), r.bytes);
    } else if (cmd(l) === "nat") {
      const r = await run(process.execPath, [bin, ...args], { cwd: work });
      assert.equal(r.code, 0, `${where}: ${r.stderr}`);
      assert.ok(r.stdout.trim(), `${where}: prints a report`);
    } else {
      assert.fail(`${where}: teach test/readme.test.ts to run this command`);
    }
    report.push(`${where}: ${shown}`);
  }
  await stop(peer.c);
  for (const s of servers) assert.equal(await stop(s), 0, "the servers exit 0 on SIGTERM");
});

test("README: which lines ran and which were only checked", (t) => {
  for (const r of report) t.diagnostic(r);
  const npx = shCommands().filter((c) => c.words[0] === "npx");
  for (const l of npx) assert.ok(report.some((r) => r.startsWith(`README.md:${l.line}:`)), `README.md:${l.line} was executed`);
});
