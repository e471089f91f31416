// UPnP IGD text handling (device description, SOAP, SSDP) and the default gateway; no network.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDefaultGateway, procHexToIpv4 } from "../../src/portmap/gateway.ts";
import { parseIgdDescription, parseSoapResponse, soapActionHeader, soapEnvelope, xmlText } from "../../src/portmap/soap.ts";
import { buildMSearch, parseSsdpResponse } from "../../src/portmap/ssdp.ts";

const desc = (deviceType: string, services: Array<[string, string]>, urlBase = "") => `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">${urlBase ? `<URLBase>${urlBase}</URLBase>` : ""}
<device><deviceType>${deviceType}</deviceType><friendlyName>router</friendlyName>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><controlURL>/ctl/L3F</controlURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><serviceList>
${services.map(([t, c]) => `<service><serviceType>${t}</serviceType><serviceId>x</serviceId><controlURL>${c}</controlURL><SCPDURL>/x.xml</SCPDURL></service>`).join("\n")}
</serviceList></device></deviceList></device></deviceList></device></root>`;

const IGD1 = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";
const IGD2 = "urn:schemas-upnp-org:device:InternetGatewayDevice:2";
const IP1 = "urn:schemas-upnp-org:service:WANIPConnection:1";
const IP2 = "urn:schemas-upnp-org:service:WANIPConnection:2";
const PPP1 = "urn:schemas-upnp-org:service:WANPPPConnection:1";
const LOC = "http://10.77.1.1:5000/rootDesc.xml";

describe("device description", () => {
  const cases: Array<[string, string, unknown]> = [
    ["IGD v2 (miniupnpd)", desc(IGD2, [[IP2, "/ctl/IPConn"]]), { igdVersion: 2, serviceType: IP2, controlUrl: "http://10.77.1.1:5000/ctl/IPConn" }],
    ["IGD v1 (miniupnpd force_igd_desc_v1)", desc(IGD1, [[IP1, "/ctl/IPConn"]]), { igdVersion: 1, serviceType: IP1, controlUrl: "http://10.77.1.1:5000/ctl/IPConn" }],
    ["v2 listing both: v2 service wins", desc(IGD2, [[IP1, "/v1"], [IP2, "/v2"]]), { igdVersion: 2, serviceType: IP2, controlUrl: "http://10.77.1.1:5000/v2" }],
    ["PPP only", desc(IGD1, [[PPP1, "/ppp"]]), { igdVersion: 1, serviceType: PPP1, controlUrl: "http://10.77.1.1:5000/ppp" }],
    ["URLBase and a relative control URL", desc(IGD1, [[IP1, "ctl"]], "http://10.77.1.1:49000/igd/"), { igdVersion: 1, serviceType: IP1, controlUrl: "http://10.77.1.1:49000/igd/ctl" }],
    ["absolute control URL", desc(IGD1, [[IP1, "http://10.77.1.1:6000/c"]]), { igdVersion: 1, serviceType: IP1, controlUrl: "http://10.77.1.1:6000/c" }],
    ["not an IGD", desc("urn:schemas-upnp-org:device:MediaServer:1", [[IP1, "/c"]]), undefined],
    ["IGD without a WAN connection service", desc(IGD1, []), undefined],
  ];
  for (const [name, xml, want] of cases) it(name, () => assert.deepEqual(parseIgdDescription(xml, LOC), want));
});

describe("SOAP", () => {
  it("builds an AddPortMapping envelope with escaped arguments in order", () => {
    const env = soapEnvelope(IP1, "AddPortMapping", [["NewRemoteHost", ""], ["NewExternalPort", 4000], ["NewPortMappingDescription", "a<b&c"]]);
    assert.match(env, /^<\?xml version="1.0"\?>/);
    assert.ok(env.includes(`<u:AddPortMapping xmlns:u="${IP1}"><NewRemoteHost></NewRemoteHost><NewExternalPort>4000</NewExternalPort><NewPortMappingDescription>a&lt;b&amp;c</NewPortMappingDescription></u:AddPortMapping>`));
    assert.equal(soapActionHeader(IP1, "AddPortMapping"), `"${IP1}#AddPortMapping"`);
  });

  it("reads output arguments whatever the namespace prefix", () => {
    const xml = `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetExternalIPAddressResponse xmlns:u="${IP2}"><NewExternalIPAddress>203.0.113.101</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>`;
    assert.deepEqual(parseSoapResponse(xml, ["NewExternalIPAddress"]), { ok: true, values: { NewExternalIPAddress: "203.0.113.101" } });
    const any = `<SOAP-ENV:Envelope><SOAP-ENV:Body><m:AddAnyPortMappingResponse><NewReservedPort> 4001 </NewReservedPort></m:AddAnyPortMappingResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`;
    assert.deepEqual(parseSoapResponse(any, ["NewReservedPort", "Missing"]), { ok: true, values: { NewReservedPort: "4001" } });
  });

  it("reads a UPnP fault's code and description", () => {
    const fault = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>718</errorCode><errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`;
    assert.deepEqual(parseSoapResponse(fault, []), { ok: false, errorCode: 718, errorDescription: "ConflictInMappingEntry" });
  });

  it("unescapes entities in values", () => {
    assert.equal(xmlText("<a><x>1 &amp; 2 &#x41;&#66; &lt;</x></a>", "x"), "1 & 2 AB <");
  });
});

describe("SSDP", () => {
  it("unicast search has no MX; multicast has one", () => {
    const u = buildMSearch({ host: "10.77.1.1:1900" });
    assert.match(u, /^M-SEARCH \* HTTP\/1\.1\r\nHOST: 10\.77\.1\.1:1900\r\nMAN: "ssdp:discover"\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n/);
    assert.ok(!/MX:/.test(u));
    assert.match(buildMSearch({ mx: 1 }), /HOST: 239\.255\.255\.250:1900\r\n.*MX: 1\r\n/s);
    assert.ok(u.endsWith("\r\n\r\n"));
  });

  it("parses an answer (case-insensitive headers)", () => {
    const ans = "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nst: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nUSN: uuid:x::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nEXT:\r\nSERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1\r\nLocation: http://10.77.1.1:5000/rootDesc.xml\r\n\r\n";
    assert.deepEqual(parseSsdpResponse(ans), { location: "http://10.77.1.1:5000/rootDesc.xml", st: IGD1, usn: `uuid:x::${IGD1}` });
  });

  for (const [name, text] of [["a NOTIFY", "NOTIFY * HTTP/1.1\r\nLOCATION: http://a/\r\n\r\n"], ["no location", "HTTP/1.1 200 OK\r\nST: x\r\n\r\n"], ["https location", "HTTP/1.1 200 OK\r\nLOCATION: https://10.0.0.1/\r\n\r\n"], ["bad URL", "HTTP/1.1 200 OK\r\nLOCATION: ::::\r\n\r\n"]] as const) {
    it(`ignores ${name}`, () => assert.equal(parseSsdpResponse(text), undefined));
  }
});

describe("default gateway from /proc/net/route", () => {
  const head = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT";
  const row = (i: string, d: string, g: string, f: string, m: number, mask = "00000000") => `${i}\t${d}\t${g}\t${f}\t0\t0\t${m}\t${mask}\t0\t0\t0`;
  const cases: Array<[string, string[], unknown]> = [
    ["one default", [row("eth0", "00000000", "0101A8C0", "0003", 100)], { gateway: "192.168.1.1", iface: "eth0" }],
    ["lab LAN host", [row("eth0", "00000000", "01014D0A", "0003", 0), row("eth0", "00014D0A", "00000000", "0001", 0, "00FFFFFF")], { gateway: "10.77.1.1", iface: "eth0" }],
    ["lowest metric wins", [row("wlan0", "00000000", "0100000A", "0003", 600), row("eth0", "00000000", "0101A8C0", "0003", 100)], { gateway: "192.168.1.1", iface: "eth0" }],
    ["device route default (no gateway flag)", [row("tun0", "00000000", "00000000", "0001", 0)], undefined],
    ["route down", [row("eth0", "00000000", "0101A8C0", "0002", 0)], undefined],
    ["no default", [row("eth0", "0001A8C0", "00000000", "0001", 0, "00FFFFFF")], undefined],
    ["empty", [], undefined],
  ];
  for (const [name, rows, want] of cases) it(name, () => assert.deepEqual(parseDefaultGateway([head, ...rows].join("\n") + "\n"), want));
  it("converts little-endian hex", () => {
    assert.equal(procHexToIpv4("0101A8C0"), "192.168.1.1");
    assert.equal(procHexToIpv4("zz"), undefined);
  });
});
