// Long-running commands (listen, signal, stun) must be stoppable by SIGTERM from the moment they
// say they are ready: a script that reads the ready line and stops the command at once must see a
// clean exit 0, not a death by signal. The probe sends the signal from inside the write of that line.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { bin, root } from "./cli-support.ts";

const probe = new URL("./stop-probe.mjs", import.meta.url).pathname;

function stopOnLine(args: string[], line: RegExp): Promise<{ code: number | null; signal: string | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${probe}`, P2PNODE_TEST_STOP_ON: line.source };
    const c = spawn(process.execPath, [bin, ...args], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    const killer = setTimeout(() => c.kill("SIGKILL"), 30_000);
    let stderr = "";
    let stdout = "";
    c.stderr.on("data", (d) => (stderr += d));
    c.stdout.on("data", (d) => (stdout += d));
    c.on("close", (code, signal) => (clearTimeout(killer), resolve({ code, signal, stderr, stdout })));
  });
}

const cases: Array<[string, string[], RegExp]> = [
  ["listen", ["listen", "--host", "127.0.0.1", "--no-portmap"], /^p2pn1/],
  ["listen --json", ["listen", "--host", "127.0.0.1", "--no-portmap", "--json"], /"event":"ready"/],
  ["signal", ["signal", "--host", "127.0.0.1", "--port", "0"], /signaling broker ready/],
  ["stun", ["stun", "--host", "127.0.0.1", "--port", "0"], /STUN server ready/],
];

for (const [name, args, line] of cases) {
  test(`${name}: SIGTERM right as the ready line is written closes cleanly (exit 0)`, async () => {
    const r = await stopOnLine(args, line);
    assert.equal(r.signal, null, `died of ${r.signal}: the handler was armed too late\n${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
    // It said why it stopped: a line on the terminal, or the "closed" event with --json.
    assert.match(args.includes("--json") ? r.stdout : r.stderr, args.includes("--json") ? /"event":"closed"/ : /SIGTERM: closing|closed \(SIGTERM\)/);
  });
}
