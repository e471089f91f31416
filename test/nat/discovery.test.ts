import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { AbortError, InvalidArgumentError } from "../../src/errors.ts";
import { discoverNat } from "../../src/nat/discovery.ts";
import type { DiscoverNatOptions, NatReport } from "../../src/nat/types.ts";
import { StunServer } from "../../src/stun/server.ts";
import { FakeTime } from "../../src/util/clock.ts";
import { badServer, type Behaviour } from "./bad-servers.ts";

async function timed(p: Promise<NatReport>): Promise<{ r: NatReport; ms: number }> {
  const t = performance.now();
  const r = await p;
  return { r, ms: performance.now() - t };
}

/**
 * Runs discovery on FakeTime: time moves 10 ms per event-loop turn, so the
 * loopback servers' answers come in between and the budget is measured on the
 * fake clock. Resolves with the report, the fake ms it took and the timers left.
 */
async function onFakeTime(o: Omit<DiscoverNatOptions, "clock" | "timers">): Promise<{ r: NatReport; ms: number; pending: number }> {
  const time = new FakeTime();
  const start = time.now();
  let settled = false;
  const p = discoverNat({ ...o, clock: time, timers: time }).finally(() => (settled = true));
  while (!settled) await time.advance(10);
  return { r: await p, ms: time.now() - start, pending: time.pending };
}

describe("discoverNat on loopback (no NAT): RFC 5780 server on 127.0.0.1 + 127.0.0.2", () => {
  let server: StunServer;
  let uri: string;
  before(async () => {
    server = await StunServer.listen({ host: "127.0.0.1", port: 0, altHost: "127.0.0.2", altPort: 0 });
    uri = `stun:127.0.0.1:${server.addresses.primary.port}`;
  });
  after(() => server.close());

  for (const localAddress of ["127.0.0.1", undefined]) {
    it(`UDP and TCP are "open": EIM, EIF, port preserved (localAddress ${localAddress ?? "wildcard"})`, async (t) => {
      const { r, ms } = await timed(discoverNat({ servers: [uri], localAddress, timeout: 2000 }));
      t.diagnostic(`discovery took ${Math.round(ms)} ms (report ${r.durationMs} ms)`);
      assert.deepEqual(r.warnings, [], "finished inside its budget, nothing partial");
      assert.equal(r.family, 4);
      for (const tr of [r.udp!, r.tcp!]) {
        assert.deepEqual(tr.warnings, [], `${tr.transport} warnings`);
        assert.equal(tr.natType, "open", tr.transport);
        assert.equal(tr.mapping, "endpoint-independent");
        assert.equal(tr.filtering, "endpoint-independent");
        assert.equal(tr.preservesPort, true);
        assert.equal(tr.behindNat, false);
        assert.deepEqual(tr.delta, { kind: "preserving" });
        assert.equal(tr.publicAddress?.address, "127.0.0.1");
        assert.equal(tr.publicAddress?.port, tr.localAddress?.port);
        assert.deepEqual(tr.predictedPorts, [tr.localAddress!.port]);
        assert.ok(tr.timings.length >= 3, `${tr.transport}: ${tr.timings.length} steps`);
        for (const s of tr.timings) assert.equal(s.ok, true, `${s.step}: ${s.detail}`);
      }
      assert.ok(r.tcp!.timings.some((s) => s.step.startsWith("tcp dial-back") && /arrived from 127\.0\.0\.2/.test(s.detail ?? "")));
    });
  }

  it("two servers that agree: public address confirmed; one transport only", async () => {
    const second = await StunServer.listen({ host: "127.0.0.1", port: 0 });
    try {
      const r = await discoverNat({ servers: [uri, `stun:127.0.0.1:${second.addresses.primary.port}`], transports: ["udp"], localAddress: "127.0.0.1" });
      assert.equal(r.tcp, undefined);
      assert.equal(r.udp!.publicAddresses.length, 2);
      assert.ok(r.udp!.publicAddress);
      assert.deepEqual(r.udp!.warnings, []);
      assert.equal(r.udp!.natType, "open");
    } finally {
      await second.close();
    }
  });

  it("a lying server: disagreement warning, public address still agreed by the two honest ones", async () => {
    const liar = await badServer("liar");
    const second = await StunServer.listen({ host: "127.0.0.1", port: 0 });
    try {
      const r = await discoverNat({ servers: [uri, liar.uri, `stun:127.0.0.1:${second.addresses.primary.port}`], transports: ["udp"], localAddress: "127.0.0.1" });
      assert.equal(r.udp!.publicAddress?.address, "127.0.0.1");
      assert.ok(r.udp!.warnings.some((w) => /disagree/.test(w)));
    } finally {
      await liar.close();
      await second.close();
    }
  });

  const bad: Behaviour[] = ["garbage", "wrong-txid", "truncated", "silent"];
  for (const kind of bad) {
    it(`a ${kind} server next to a good one: finishes within its timeout, warns, keeps the good results`, async (t) => {
      const b = await badServer(kind);
      try {
        const { r, ms, pending } = await onFakeTime({ servers: [uri, b.uri], localAddress: "127.0.0.1", timeout: 1200 });
        t.diagnostic(`${kind}: ${ms} ms on the fake clock`);
        assert.ok(ms <= 1200, `its 1200 ms budget held on the injected clock: took ${ms} ms`);
        assert.equal(pending, 0, "no timer left behind");
        for (const tr of [r.udp!, r.tcp!]) {
          assert.equal(tr.natType, "open", `${tr.transport}: ${tr.warnings.join("; ")}`);
          assert.equal(tr.publicAddresses.length, 1);
          assert.equal(tr.publicAddress, undefined); // not confirmed by a second server
          assert.ok(tr.warnings.some((w) => w.includes(b.uri)), `${tr.transport} warns about ${b.uri}: ${tr.warnings.join("; ")}`);
          assert.ok(tr.warnings.some((w) => /not confirmed/.test(w)));
        }
      } finally {
        await b.close();
      }
    });
  }
});

describe("discoverNat with only bad servers", () => {
  it("garbage + silent: 'blocked' within the timeout, never a crash", async () => {
    const a = await badServer("garbage");
    const b = await badServer("silent");
    try {
      const { r, ms, pending } = await onFakeTime({ servers: [a.uri, b.uri], timeout: 800 });
      assert.ok(ms <= 800, `its 800 ms budget held on the injected clock: took ${ms} ms`);
      assert.equal(pending, 0, "no timer left behind");
      assert.equal(r.udp!.natType, "blocked");
      assert.equal(r.tcp!.natType, "blocked");
      assert.equal(r.udp!.publicAddress, undefined);
      assert.ok(r.udp!.warnings.length >= 2);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("nothing listening at all (refused): server unreachable, NAT kind unknown, not blocked", async () => {
    const b = await badServer("silent");
    const uri = b.uri;
    await b.close();
    const { r } = await onFakeTime({ servers: [uri], timeout: 600 });
    for (const t of [r.udp!, r.tcp!]) {
      assert.equal(t.natType, "unknown", t.transport);
      assert.deepEqual(t.unreachable, [uri], t.transport);
      assert.ok(t.warnings.some((w) => /STUN server unreachable/.test(w)), t.warnings.join("; "));
    }
  });

  it("UDP alone: the ICMP port unreachable is heard (connected socket), so UDP is not called blocked", async () => {
    const b = await badServer("silent");
    const uri = b.uri;
    await b.close();
    const { r } = await onFakeTime({ servers: [uri], transports: ["udp"], timeout: 2500 });
    assert.equal(r.udp!.natType, "unknown");
    assert.deepEqual(r.udp!.unreachable, [uri]);
    assert.match(r.udp!.timings.find((t) => t.step === "udp test I")!.detail!, /ICMP port unreachable/);
  });

  it("a silent server (it drops everything) is still blocked", async () => {
    const b = await badServer("silent");
    try {
      const { r } = await onFakeTime({ servers: [b.uri], timeout: 600 });
      assert.equal(r.udp!.natType, "blocked");
      assert.equal(r.udp!.unreachable, undefined);
    } finally {
      await b.close();
    }
  });
});

describe("discoverNat over IPv6 (::1, alternate port only)", () => {
  it("learns the public address; without an alternate IP the type stays unknown, with a warning", async () => {
    const server = await StunServer.listen({ host: "::1", port: 0 });
    try {
      const r = await discoverNat({ servers: [`stun:[::1]:${server.addresses.primary.port}`], timeout: 1500 });
      assert.equal(r.family, 6);
      for (const tr of [r.udp!, r.tcp!]) {
        assert.equal(tr.publicAddress?.address, "::1");
        assert.equal(tr.behindNat, false);
        assert.equal(tr.preservesPort, true);
        assert.equal(tr.natType, "unknown");
        assert.ok(tr.warnings.some((w) => /OTHER-ADDRESS/.test(w)));
      }
    } finally {
      await server.close();
    }
  });

  it("a v4 server in a v6 run is skipped with a warning", async () => {
    const server = await StunServer.listen({ host: "::1", port: 0, tcp: false });
    try {
      const r = await discoverNat({ servers: [`stun:[::1]:${server.addresses.primary.port}`, "stun:127.0.0.1:9"], transports: ["udp"], timeout: 600 });
      assert.ok(r.warnings.some((w) => /IPv4 server skipped/.test(w)));
      assert.equal(r.udp!.publicAddress?.address, "::1");
    } finally {
      await server.close();
    }
  });
});

describe("discoverNat arguments and cancellation", () => {
  for (const [name, opts] of [
    ["no servers", { servers: [] }],
    ["bad uri", { servers: ["http://127.0.0.1"] }],
    ["bad timeout", { servers: ["stun:127.0.0.1"], timeout: -1 }],
    ["bad transport", { servers: ["stun:127.0.0.1"], transports: ["sctp"] }],
    ["bad localAddress", { servers: ["stun:127.0.0.1"], localAddress: "eth0" }],
  ] as const) {
    it(`rejects ${name} with InvalidArgumentError`, async () => {
      await assert.rejects(discoverNat(opts as never), InvalidArgumentError);
    });
  }

  it("abort while probing -> AbortError; an aborted signal -> AbortError before any probe", async () => {
    const ac = new AbortController();
    let requests = 0;
    // Aborted by event order (the first probe reached the server), not after a sleep.
    const b = await badServer("silent", "127.0.0.1", () => requests++ === 0 && ac.abort());
    try {
      await assert.rejects(discoverNat({ servers: [b.uri], signal: ac.signal, timeout: 5000 }), AbortError);
      assert.ok(requests >= 1);
      const before = requests;
      await assert.rejects(discoverNat({ servers: [b.uri], signal: AbortSignal.abort() }), AbortError);
      assert.equal(requests, before, "nothing is sent for an already aborted signal");
    } finally {
      await b.close();
    }
  });

});
