/**
 * Every command's --help has an example, and docs/cli.md documents every
 * command, every flag its help shows, and the CLI's own exit codes. The
 * commands are read from `p2pnode --help`, so a new command is covered at once.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { EXIT } from "../../src/cli/output.ts";
import { listenHint } from "../../src/cli/hints.ts";
import { root, run } from "./cli-support.ts";

const page = readFileSync(`${root}docs/cli.md`, "utf8");

/** The commands `p2pnode --help` lists (without `help`). */
async function commands(): Promise<string[]> {
  const r = await run(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  const block = r.stdout.slice(r.stdout.indexOf("Commands:"), r.stdout.indexOf("\n\n", r.stdout.indexOf("Commands:")));
  return [...block.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]).filter((c) => c !== "help");
}

/** The text of a `## heading` section of docs/cli.md (up to the next `## `). */
function section(heading: string): string {
  const at = page.indexOf(`\n## ${heading}\n`);
  if (at < 0) return "";
  const end = page.indexOf("\n## ", at + 1);
  return page.slice(at, end < 0 ? undefined : end);
}

test("every command's --help has examples that run p2pnode", async () => {
  const list = await commands();
  assert.ok(list.length >= 6, `found the commands: ${list.join(", ")}`);
  for (const cmd of ["connect", "listen", "nat", "stun", "signal", "turn"]) assert.ok(list.includes(cmd), `${cmd} is a command`);
  for (const cmd of list) {
    const r = await run([cmd, "--help"]);
    assert.equal(r.code, 0, `${cmd} --help: ${r.stderr}`);
    assert.match(r.stdout, /\nExamples?:\n/, `p2pnode ${cmd} --help has an "Examples:" part`);
    assert.match(r.stdout, new RegExp(`^ {2}\\$ (\\w+=\\S+ )*p2pnode ${cmd}\\b`, "m"), `p2pnode ${cmd} --help shows the command itself in an example`);
  }
});

test("docs/cli.md: a section, an example and every flag for each command", async () => {
  const shared = section("Flags most commands share");
  assert.ok(shared, "docs/cli.md has the shared flags");
  for (const cmd of await commands()) {
    const own = section(`p2pnode ${cmd}`);
    assert.ok(own, `docs/cli.md has a "## p2pnode ${cmd}" section`);
    assert.match(own, new RegExp("```\\n(\\w+=\\S+ )*p2pnode " + cmd + "\\b"), `the ${cmd} section has an example`);
    assert.ok(page.includes(`](#p2pnode-${cmd})`), `the command table links the ${cmd} section`);
    const help = (await run([cmd, "--help"])).stdout;
    const options = help.slice(help.indexOf("Options:"), help.indexOf("\n\n", help.indexOf("Options:")));
    for (const [, flag] of options.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)) {
      const row = new RegExp("^\\| `(-\\w, )?" + flag + "\\b", "m"); // a row of a flag table
      assert.ok(row.test(own) || row.test(shared), `docs/cli.md documents p2pnode ${cmd} ${flag} in a flag table`);
    }
  }
});

test("docs/cli.md: the exit codes are the CLI's own", async () => {
  const codes = section("Exit codes");
  const documented = [...codes.matchAll(/^\| `(\d+)` \|/gm)].map((m) => Number(m[1]));
  assert.deepEqual(documented.sort(), Object.values(EXIT).sort(), "one row per code in src/cli/output.ts EXIT");
  const help = (await run(["connect", "--help"])).stdout;
  for (const code of Object.values(EXIT)) assert.match(help, new RegExp(`^ {2}${code} {2}`, "m"), `--help lists exit code ${code}`);
});

test("a port that is taken says what to do next, and keeps its code", () => {
  const os = Object.assign(new Error("listen EADDRINUSE: address already in use 127.0.0.1:1883"), { code: "EADDRINUSE", syscall: "listen" });
  const hinted = listenHint(os) as Error & { code: string; cause: unknown };
  assert.equal(hinted.code, "EADDRINUSE");
  assert.equal(hinted.cause, os);
  assert.match(hinted.message, /^listen EADDRINUSE: address already in use 127\.0\.0\.1:1883; .*--port 0/);
  const wrapped = Object.assign(new Error("could not listen on 127.0.0.1:80: …", { cause: Object.assign(new Error("listen EACCES"), { code: "EACCES", syscall: "listen" }) }), { code: "P2P_ERR_SIGNALING" });
  const w = listenHint(wrapped) as Error & { code: string };
  assert.equal(w.code, "P2P_ERR_SIGNALING", "a wrapped error keeps the p2pnode code");
  assert.match(w.message, /1024/);
  const notOs = new Error("something else");
  assert.equal(listenHint(notOs), notOs, "anything else is passed through unchanged");
  const other = Object.assign(new Error("listen EMFILE"), { code: "EMFILE", syscall: "listen" });
  assert.equal(listenHint(other), other);
});
