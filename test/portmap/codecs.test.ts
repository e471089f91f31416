// NAT-PMP (RFC 6886) and PCP (RFC 6887) packets, byte for byte; no network.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PortMappingError } from "../../src/errors.ts";
import { decodePmpResponse, encodePmpExternalAddressRequest, encodePmpMapRequest } from "../../src/portmap/nat-pmp-codec.ts";
import { decodePcpResponse, encodePcpMapRequest, pcpAddressString } from "../../src/portmap/pcp-codec.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ""), "hex"));

describe("NAT-PMP codec", () => {
  it("external address request is version 0, opcode 0", () => {
    assert.equal(hex(encodePmpExternalAddressRequest()), "0000");
  });

  const maps = [
    { name: "TCP 3600 s (seconds, not ms)", req: { protocol: "TCP", internalPort: 4000, suggestedExternalPort: 4000, lifetimeSeconds: 3600 }, hex: "00 02 0000 0fa0 0fa0 00000e10" },
    { name: "UDP, no external preference", req: { protocol: "UDP", internalPort: 1, suggestedExternalPort: 0, lifetimeSeconds: 7200 }, hex: "00 01 0000 0001 0000 00001c20" },
    { name: "delete: lifetime 0, suggested 0", req: { protocol: "TCP", internalPort: 65535, suggestedExternalPort: 0, lifetimeSeconds: 0 }, hex: "00 02 0000 ffff 0000 00000000" },
  ] as const;
  for (const c of maps) {
    it(`map request: ${c.name}`, () => assert.equal(hex(encodePmpMapRequest(c.req)), c.hex.replace(/\s+/g, "")));
  }

  it("rejects out-of-range ports and lifetimes", () => {
    for (const bad of [{ internalPort: 0 }, { internalPort: 70000 }, { suggestedExternalPort: -1 }, { lifetimeSeconds: 1.5 }, { lifetimeSeconds: 2 ** 32 }]) {
      assert.throws(() => encodePmpMapRequest({ protocol: "TCP", internalPort: 4000, suggestedExternalPort: 0, lifetimeSeconds: 60, ...bad }), PortMappingError);
    }
  });

  const answers: Array<[string, string, unknown]> = [
    ["external address", "00 80 0000 00001234 cb007165", { op: 0, result: 0, epoch: 0x1234, kind: "external-address", externalIp: "203.0.113.101" }],
    ["TCP map", "00 82 0000 00000010 0fa0 4e21 00000e10", { op: 2, result: 0, epoch: 16, kind: "map", protocol: "TCP", internalPort: 4000, externalPort: 20001, lifetimeSeconds: 3600 }],
    ["refused (8-byte error)", "00 82 0002 00000010", { op: 2, result: 2, epoch: 16, kind: "error" }],
    ["unsupported version", "00 81 0001 00000000", { op: 1, result: 1, epoch: 0, kind: "error" }],
  ];
  for (const [name, h, want] of answers) {
    it(`decodes ${name}`, () => assert.deepEqual(decodePmpResponse(bytes(h)), want));
  }

  const junk: Array<[string, string]> = [
    ["too short", "0082 0000"],
    ["a request (opcode < 128)", "00 02 0000 0fa0 0fa0 00000e10"],
    ["PCP version 2", "02 81 0000 00000e10 00000000 000000000000000000000000"],
    ["truncated success map", "00 82 0000 00000010 0fa0"],
    ["unknown opcode", "00 85 0000 00000010 00000000"],
  ];
  for (const [name, h] of junk) {
    it(`ignores ${name}`, () => assert.equal(decodePmpResponse(bytes(h)), undefined));
  }
});

describe("PCP codec", () => {
  const nonce = bytes("0102030405060708090a0b0c");

  it("MAP request: header, IPv4-mapped client IP, nonce, protocol 6, ports, all-zero v4 suggestion", () => {
    const b = encodePcpMapRequest({ nonce, protocol: "TCP", clientIp: "10.77.1.11", internalPort: 4000, suggestedExternalPort: 4000, lifetimeSeconds: 3600 });
    assert.equal(b.length, 60);
    assert.equal(
      hex(b),
      "02010000" + "00000e10" + "00000000000000000000ffff0a4d010b" +
        "0102030405060708090a0b0c" + "06000000" + "0fa00fa0" + "00000000000000000000ffff00000000",
    );
  });

  it("MAP delete keeps the nonce and carries lifetime 0 and a suggested address", () => {
    const b = encodePcpMapRequest({ nonce, protocol: "UDP", clientIp: "10.77.1.11", internalPort: 4000, suggestedExternalPort: 20001, suggestedExternalIp: "203.0.113.101", lifetimeSeconds: 0 });
    assert.equal(hex(b.subarray(4, 8)), "00000000");
    assert.equal(b[36], 17);
    assert.equal(hex(b.subarray(44, 60)), "00000000000000000000ffffcb007165");
  });

  it("rejects a short nonce", () => {
    assert.throws(() => encodePcpMapRequest({ nonce: new Uint8Array(8), protocol: "TCP", clientIp: "10.0.0.1", internalPort: 1, suggestedExternalPort: 0, lifetimeSeconds: 1 }), PortMappingError);
  });

  it("decodes a MAP success answer", () => {
    const ans = bytes(
      "02 81 00 00" + "00000e10" + "0000002a" + "000000000000000000000000" +
        "0102030405060708090a0b0c" + "06000000" + "0fa0 4e21" + "00000000000000000000ffffcb007165",
    );
    assert.deepEqual(decodePcpResponse(ans), {
      natPmpOnly: false, op: 1, result: 0, lifetimeSeconds: 3600, epoch: 42,
      map: { nonce, protocol: 6, internalPort: 4000, externalPort: 20001, externalIp: "203.0.113.101" },
    });
  });

  it("decodes a MAP error answer (result code, error lifetime)", () => {
    const ans = bytes("02 81 00 02" + "0000001e" + "0000002a" + "000000000000000000000000" + "0102030405060708090a0b0c" + "06000000" + "0fa0 0000" + "00".repeat(16));
    const r = decodePcpResponse(ans);
    assert.ok(r && !r.natPmpOnly);
    assert.equal(r.result, 2);
    assert.equal(r.lifetimeSeconds, 30);
  });

  it("a NAT-PMP server's unsupported-version answer means: speak NAT-PMP", () => {
    assert.deepEqual(decodePcpResponse(bytes("00 81 0001 00000000")), { natPmpOnly: true });
  });

  for (const [name, h] of [["a request", "02 01 0000 00000e10" + "00".repeat(16)], ["too short", "02 81 00 00"], ["not a multiple of 4", "02 81 00 00" + "00".repeat(21)], ["version 1", "01 81 00 00" + "00".repeat(20)]] as const) {
    it(`ignores ${name}`, () => assert.equal(decodePcpResponse(bytes(h)), undefined));
  }

  it("prints IPv4-mapped addresses as IPv4 and others as IPv6", () => {
    assert.equal(pcpAddressString(bytes("00000000000000000000ffffcb007165")), "203.0.113.101");
    assert.equal(pcpAddressString(bytes("fd770000000000000000000000000001")), "fd77::1");
  });
});
