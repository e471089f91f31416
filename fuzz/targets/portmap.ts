/**
 * Gateway answers (src/portmap): NAT-PMP and PCP datagrams (decoders return
 * undefined for anything that is not an answer), and the UPnP text parsers
 * (SSDP search answer, device description, SOAP answer/fault). All are
 * documented never to throw on input.
 */
import fc from "fast-check";
import { decodePmpResponse } from "../../src/portmap/nat-pmp-codec.ts";
import { decodePcpResponse, encodePcpMapRequest } from "../../src/portmap/pcp-codec.ts";
import { parseIgdDescription, parseSoapResponse, xmlText } from "../../src/portmap/soap.ts";
import { parseSsdpResponse } from "../../src/portmap/ssdp.ts";
import { fuzzBytes, fuzzText, type FuzzTarget } from "../harness.ts";

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));
export const PMP_SEEDS: readonly Uint8Array[] = [
  hex("00 80 0000 00001234 cb007105"), // external address 203.0.113.5
  hex("00 82 0000 00001234 1389 9c40 00000e10"), // TCP map 5001 → 40000, 3600 s
  hex("00 81 0000 00000001 1389 0000 00000000"), // UDP delete
  hex("00 82 0002 00001234"), // refused (8-byte error answer)
];
/** A MAP request turned into its answer: R bit, result, lifetime, epoch, external address. */
function pcpAnswer(result: number, v6: boolean): Uint8Array {
  const req = encodePcpMapRequest({ nonce: new Uint8Array(12).fill(7), protocol: "TCP", clientIp: v6 ? "2001:db8::2" : "192.168.1.2", internalPort: 5000, suggestedExternalPort: 0, lifetimeSeconds: 7200 });
  const a = req.slice();
  a[1] |= 0x80;
  a[3] = result;
  new DataView(a.buffer).setUint32(8, 99);
  a.set(v6 ? hex("20010db8000000000000000000000009") : hex("00000000000000000000ffffcb007105"), 24 + 20);
  return a;
}
export const PCP_SEEDS: readonly Uint8Array[] = [pcpAnswer(0, false), pcpAnswer(0, true), pcpAnswer(2, false), hex("00 81 0001 00000000"), hex("02 80 0000 00000000 00000000 00000000 00000000 00000000")];

const pmp: FuzzTarget<Uint8Array> = {
  name: "portmap.nat-pmp",
  arb: fuzzBytes(PMP_SEEDS, { maxRandom: 64 }),
  run: (b) => decodePmpResponse(b),
  throws: "never",
  testRuns: 2000,
};
const pcp: FuzzTarget<Uint8Array> = {
  name: "portmap.pcp",
  arb: fuzzBytes([...PCP_SEEDS, ...PMP_SEEDS], { maxRandom: 128 }),
  run: (b) => decodePcpResponse(b),
  throws: "never",
  testRuns: 2000,
};

export const SSDP_SEEDS = [
  "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nUSN: uuid:1::urn:x\r\nLOCATION: http://10.77.1.1:5000/rootDesc.xml\r\nSERVER: miniupnpd\r\n\r\n",
  "HTTP/1.0 200 OK\nlocation:http://[fe80::1]:80/d.xml\nst:upnp:rootdevice\n\n",
];
const ssdp: FuzzTarget<string> = {
  name: "portmap.ssdp",
  arb: fuzzText(SSDP_SEEDS, { maxLength: 400 }),
  run: (s) => parseSsdpResponse(s),
  check: (_s, r) => {
    if (!new URL((r as { location: string }).location).protocol.startsWith("http:")) throw new Error("non-http LOCATION accepted");
  },
  throws: "never",
  testRuns: 1000,
};

const IGD = (v: 1 | 2) => `urn:schemas-upnp-org:device:InternetGatewayDevice:${v}`;
export const DESC_SEEDS = [
  `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><URLBase>http://10.0.0.1:49000/</URLBase><device><deviceType>${IGD(1)}</deviceType><deviceList><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>/ctl/IPConn</controlURL></service></serviceList></device></deviceList></device></root>`,
  `<root><device><deviceType>${IGD(2)}</deviceType><s:serviceList><s:service a="b"><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><controlURL>http://10.0.0.1/c?x=&amp;y</controlURL></s:service></s:serviceList></device></root>`,
];
const LOCATION = "http://10.0.0.1:5000/rootDesc.xml";
const XML_DICT = ["&#x110000;", "&#99999999999;", "&#xd800;", "&amp;", "<![CDATA[", "<service>", "</service >", "<a:controlURL x>", "&#0;"].map((s) => new Uint8Array(Buffer.from(s)));
const description: FuzzTarget<string> = {
  name: "portmap.igd-description",
  arb: fuzzText(DESC_SEEDS, { dict: XML_DICT, maxLength: 600 }),
  run: (s) => parseIgdDescription(s, LOCATION),
  check: (_s, r) => {
    new URL((r as { controlUrl: string }).controlUrl);
  },
  throws: "never",
  testRuns: 1000,
};
export const SOAP_SEEDS = [
  `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetExternalIPAddressResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"><NewExternalIPAddress>203.0.113.5</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>`,
  `<s:Envelope><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>718</errorCode><errorDescription>Conflict &lt;x&gt; &#65;</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
];
const soap: FuzzTarget<string> = {
  name: "portmap.soap",
  arb: fuzzText(SOAP_SEEDS, { dict: XML_DICT, maxLength: 600 }),
  run: (s) => parseSoapResponse(s, ["NewExternalIPAddress", "NewPortMappingDescription"]),
  rejected: () => false,
  throws: "never",
  testRuns: 1000,
};

export const targets: FuzzTarget[] = [pmp, pcp, ssdp, description, soap];
void fc;
void xmlText;
