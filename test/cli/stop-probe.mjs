// Preloaded into a CLI child by cli-stop.test.ts: the moment the child writes a line matching
// P2PNODE_TEST_STOP_ON, it sends itself SIGTERM from inside that write, i.e. as early as any reader
// of the line could. A command that arms its signal handler only after announcing itself dies of
// the signal (exit code null) instead of closing cleanly.
const re = new RegExp(process.env.P2PNODE_TEST_STOP_ON ?? "$^");
let sent = false;
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream);
  stream.write = (chunk, ...rest) => {
    const ok = write(chunk, ...rest);
    if (!sent && re.test(String(chunk))) {
      sent = true;
      process.kill(process.pid, "SIGTERM");
    }
    return ok;
  };
}
