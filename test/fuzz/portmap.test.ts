// Gateway answers (NAT-PMP, PCP, SSDP, device description, SOAP) under mutated input; regressions for the two soap.ts bugs the fuzzer found.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { pcpAddressBytes, pcpAddressString } from "../../src/portmap/pcp-codec.ts";
import { parseSoapResponse, xmlText, xmlUnescape } from "../../src/portmap/soap.ts";
import { targets } from "../../fuzz/targets/portmap.ts";
import { fuzzText } from "../../fuzz/harness.ts";
import { fuzzTargets } from "./targets.ts";

/** The element reader before the fuzzer found it quadratic: the oracle for what the linear one must return. */
function regexText(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<(?:[\\w.-]+:)?${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</(?:[\\w.-]+:)?${tag}\\s*>`).exec(xml);
  return m ? xmlUnescape(m[1]).trim() : undefined;
}

describe("fuzz: port mapping answers", () => {
  fuzzTargets(targets);

  it("a character reference past U+10FFFF is U+FFFD, not a RangeError out of the SOAP reader", () => {
    assert.equal(xmlUnescape("a&#x110000;b&#99999999999;c&#65;"), "a\ufffdb\ufffdcA");
    const fault = "<s:Fault><errorCode>718</errorCode><errorDescription>x&#x110000;</errorDescription></s:Fault>";
    assert.deepEqual(parseSoapResponse(fault, []), { ok: false, errorCode: 718, errorDescription: "x\ufffd" });
  });

  it("the linear element reader finds what the old regex found", () => {
    const docs = fuzzText(["<a:deviceType x='1'>v&amp;1</a:deviceType ><deviceType>v2</deviceType>", "<deviceType\n>x</x:deviceType>", "<deviceTypeX>n</deviceTypeX><deviceType>y</deviceType>"], { maxLength: 80 });
    fc.assert(fc.property(docs, (xml) => assert.equal(xmlText(xml, "deviceType"), regexText(xml, "deviceType"))), { numRuns: 2000 });
  });

  it("many unclosed opening tags are read in one pass (were seconds of CPU per answer)", () => {
    // No clock: 240 KB of them used to take seconds, and this file would then stand out in the test times.
    assert.equal(xmlText("<deviceType ".repeat(20_000), "deviceType"), undefined);
    assert.equal(xmlText("<deviceType>".repeat(20_000), "deviceType"), undefined);
  });

  it("round trip: PCP addresses", () => {
    fc.assert(fc.property(fc.ipV4(), (ip) => assert.equal(pcpAddressString(pcpAddressBytes(ip)), ip)), { numRuns: 300 });
  });
});
