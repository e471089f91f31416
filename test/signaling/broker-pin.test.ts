/**
 * A peer's broker URL is checked where it is dialled, not only as text: the
 * link resolves the host first and refuses a loopback/private answer, so
 * neither an IP literal nor a DNS name that resolves inside the network makes
 * a node open a connection there (issue 9 item 4). A real listener stands in
 * for the internal service the URL aims at: it must see no connection.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { SignalingError } from "../../src/errors.ts";
import { BrokerLink } from "../../src/signaling/broker-link.ts";
import { silentLogger } from "../../src/util/logger.ts";

async function trap() {
  let connections = 0;
  const srv = net.createServer((s) => (connections++, s.destroy()));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return { port: (srv.address() as net.AddressInfo).port, connections: () => connections, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

function link(url: string, untrusted: boolean) {
  const l = new BrokerLink({ url, untrusted, logger: silentLogger, connectTimeoutMs: 2000, keepaliveSec: 30, reconnectInitialMs: 100, reconnectMaxMs: 100, persistent: false });
  const outcome = new Promise<Error | "up">((resolve) => {
    l.once("up", () => resolve("up"));
    l.once("down", (err) => resolve(err ?? new Error("down")));
  });
  return { l, outcome };
}

for (const host of ["127.0.0.1", "localhost"]) {
  test(`an untrusted broker URL whose host is ${host === "localhost" ? "a name resolving to loopback" : "a loopback IP"} is refused before any connection`, async () => {
    const t = await trap();
    try {
      const { l, outcome } = link(`mqtt://${host}:${t.port}`, true);
      const r = await outcome;
      l.close();
      assert.ok(r instanceof SignalingError, `refused with a SignalingError: ${String(r)}`);
      assert.match((r as Error).message, /not a public address|resolves to a non-public address/);
      // Refused before a socket was opened (no connect was even started): nothing reached the listener.
      assert.equal(t.connections(), 0, "nothing connected to the internal service");
    } finally {
      await t.close();
    }
  });
}

test("control: the same URL from our own configuration (trusted) is dialled", async () => {
  const t = await trap();
  try {
    const { l, outcome } = link(`mqtt://127.0.0.1:${t.port}`, false);
    await outcome; // the trap hangs up: down
    l.close();
    assert.equal(t.connections(), 1);
  } finally {
    await t.close();
  }
});
