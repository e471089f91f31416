// IPv6 pinholes: WANIPv6FirewallControl text (pure, table-tested) and openPinhole() against a
// hostile loopback IGD (a real HTTP server on ::1 that answers what each case wants).
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { InvalidArgumentError, PortMappingError } from "../../src/errors.ts";
import { addPinholeArgs, clampLease, parseFirewallStatus, parsePinholeService, parseUniqueId, WANIPV6FC } from "../../src/portmap/pinhole-soap.ts";
import { openPcpPinhole, openPinhole } from "../../src/portmap/pinhole.ts";
import { soapEnvelope } from "../../src/portmap/soap.ts";

const LOC = "http://[2001:db8:1::1]:5000/rootDesc.xml";
const svc = (type: string, control: string) => `<service><serviceType>${type}</serviceType><serviceId>x</serviceId><controlURL>${control}</controlURL></service>`;
const desc = (...services: string[]) => `<?xml version="1.0"?><root><device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType><serviceList>${services.join("")}</serviceList></device></root>`;

describe("WANIPv6FirewallControl text", () => {
  const services: Array<[string, string, string | undefined]> = [
    ["miniupnpd's service", desc(svc("urn:schemas-upnp-org:service:WANIPConnection:2", "/ctl/IPConn"), svc(WANIPV6FC, "/ctl/IP6FCtl")), "http://[2001:db8:1::1]:5000/ctl/IP6FCtl"],
    ["no firewall service (IGD v1, or built without IPv6)", desc(svc("urn:schemas-upnp-org:service:WANIPConnection:1", "/ctl/IPConn")), undefined],
    ["service without a control URL", desc(svc(WANIPV6FC, "")), undefined],
    ["an unparsable control URL", desc(svc(WANIPV6FC, "http://[bad")), undefined],
    ["unclosed service block", `<root><service><serviceType>${WANIPV6FC}</serviceType>`, undefined],
  ];
  for (const [name, xml, want] of services) it(`service: ${name}`, () => assert.equal(parsePinholeService(xml, LOC), want));

  it("AddPinhole arguments in SCPD order: any remote, TCP = 6, lease clamped to 1-86400", () => {
    assert.deepEqual(addPinholeArgs("2001:db8:1::11", 7070, 100000), [["RemoteHost", ""], ["RemotePort", 0], ["InternalClient", "2001:db8:1::11"], ["InternalPort", 7070], ["Protocol", 6], ["LeaseTime", 86400]]);
    assert.match(soapEnvelope(WANIPV6FC, "AddPinhole", addPinholeArgs("2001:db8:1::11", 7070, 60)), /<u:AddPinhole xmlns:u="urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"><RemoteHost><\/RemoteHost><RemotePort>0<\/RemotePort><InternalClient>2001:db8:1::11<\/InternalClient><InternalPort>7070<\/InternalPort><Protocol>6<\/Protocol><LeaseTime>60<\/LeaseTime><\/u:AddPinhole>/);
    assert.throws(() => addPinholeArgs("10.77.1.11", 7070, 60), PortMappingError);
    assert.deepEqual([clampLease(0), clampLease(4.7), clampLease(1e9)], [1, 4, 86400]);
  });

  const ids: Array<[string, Record<string, string>, number | undefined]> = [
    ["ok", { UniqueID: "3" }, 3], ["max", { UniqueID: "65535" }, 65535], ["too big", { UniqueID: "65536" }, undefined],
    ["missing", {}, undefined], ["negative", { UniqueID: "-1" }, undefined], ["junk", { UniqueID: "1e3" }, undefined], ["long", { UniqueID: "0".repeat(500) }, undefined],
  ];
  for (const [name, v, want] of ids) {
    it(`UniqueID: ${name}`, () => (want === undefined ? assert.throws(() => parseUniqueId(v), PortMappingError) : assert.equal(parseUniqueId(v), want)));
  }
  it("firewall status: booleans only", () => {
    assert.deepEqual(parseFirewallStatus({ FirewallEnabled: "1", InboundPinholeAllowed: "1" }), { firewallEnabled: true, inboundPinholeAllowed: true });
    assert.deepEqual(parseFirewallStatus({ FirewallEnabled: "0", InboundPinholeAllowed: "false" }), { firewallEnabled: false, inboundPinholeAllowed: false });
    assert.throws(() => parseFirewallStatus({ FirewallEnabled: "1" }), PortMappingError);
    assert.throws(() => parseFirewallStatus({ FirewallEnabled: "yes", InboundPinholeAllowed: "1" }), PortMappingError);
  });
});

/** A loopback IGD: `answer(action, body)` decides each SOAP reply; every request is recorded. */
describe("openPinhole against a hostile loopback IGD", () => {
  let server: http.Server;
  let base: string;
  let answer: (action: string, body: string) => { status: number; body: string };
  let description = desc(svc(WANIPV6FC, "/ctl/IP6FCtl"));
  const seen: string[] = [];
  const ok = (action: string, values: Record<string, string | number> = {}) => ({
    status: 200,
    body: `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:${action}Response xmlns:u="${WANIPV6FC}">${Object.entries(values).map(([k, v]) => `<${k}>${v}</${k}>`).join("")}</u:${action}Response></s:Body></s:Envelope>`,
  });
  const fault = (code: number) => ({ status: 500, body: `<s:Envelope><s:Body><s:Fault><faultstring>UPnPError</faultstring><detail><UPnPError><errorCode>${code}</errorCode><errorDescription>nope</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>` });
  const friendly = (action: string) => (action === "GetFirewallStatus" ? ok(action, { FirewallEnabled: 1, InboundPinholeAllowed: 1 }) : action === "AddPinhole" ? ok(action, { UniqueID: 7 }) : ok(action));
  const open = () => openPinhole({ upnpLocation: `${base}/rootDesc.xml`, internalHost: "::1", internalPort: 7070, leaseSeconds: 600, timeout: 2000, requestTimeout: 1000 });

  before(async () => {
    server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        if (req.method === "GET") return void res.end(description);
        const action = String(req.headers.soapaction ?? "").replace(/^"|"$/g, "").split("#")[1] ?? "";
        seen.push(`${action} ${body.match(/<UniqueID>(\d+)<\/UniqueID>/)?.[1] ?? ""}`.trim());
        const a = answer(action, body);
        res.writeHead(a.status, { "Content-Type": "text/xml" }).end(a.body);
      });
    });
    await new Promise<void>((r) => server.listen(0, "::1", () => r()));
    base = `http://[::1]:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it("opens (status, AddPinhole), reports the host's own address, and DeletePinhole(UniqueID) once on close", async () => {
    seen.length = 0;
    answer = friendly;
    const m = await open();
    assert.ok(m);
    assert.deepEqual([m.method, m.externalIp, m.externalPort, m.leaseSeconds, m.verified], ["upnp-pinhole6", "::1", 7070, 600, false]);
    await Promise.all([m.close(), m.close()]);
    assert.deepEqual(seen, ["GetFirewallStatus", "AddPinhole", "DeletePinhole 7"]);
  });

  it("DeletePinhole answered 704 NoSuchEntry (already expired) counts as removed", async () => {
    answer = (a) => (a === "DeletePinhole" ? fault(704) : friendly(a));
    const m = await open();
    await m?.close();
  });

  const refusals: Array<[string, (a: string) => { status: number; body: string }, RegExp]> = [
    ["inbound pinholes not allowed", (a) => (a === "GetFirewallStatus" ? ok(a, { FirewallEnabled: 1, InboundPinholeAllowed: 0 }) : friendly(a)), /not allowed/],
    ["a status that is not boolean", (a) => (a === "GetFirewallStatus" ? ok(a, { FirewallEnabled: "<x>", InboundPinholeAllowed: 2 }) : friendly(a)), /not a boolean/],
    ["AddPinhole 606 (secure mode, another address)", (a) => (a === "AddPinhole" ? fault(606) : friendly(a)), /606 Action not authorized/],
    ["AddPinhole without a UniqueID", (a) => (a === "AddPinhole" ? ok(a) : friendly(a)), /no valid UniqueID/],
    ["AddPinhole with a huge UniqueID", (a) => (a === "AddPinhole" ? ok(a, { UniqueID: "9".repeat(1000) }) : friendly(a)), /no valid UniqueID/],
    ["an answer over the size cap", (a) => ({ status: 200, body: "x".repeat(300 * 1024) + a }), /larger than/],
  ];
  for (const [name, a, re] of refusals) {
    it(`refused, typed: ${name}`, async () => {
      answer = a;
      await assert.rejects(open(), (e: Error) => e instanceof PortMappingError && re.test(e.message));
    });
  }

  it("a device without the firewall service resolves undefined; bad arguments throw InvalidArgumentError", async () => {
    description = desc(svc("urn:schemas-upnp-org:service:WANIPConnection:2", "/ctl/IPConn"));
    try {
      assert.equal(await open(), undefined);
    } finally {
      description = desc(svc(WANIPV6FC, "/ctl/IP6FCtl"));
    }
    await assert.rejects(openPinhole({ upnpLocation: `${base}/rootDesc.xml`, internalHost: "10.0.0.1", internalPort: 7070 }), InvalidArgumentError);
    await assert.rejects(openPcpPinhole({ gateway: "10.0.0.1", internalPort: 7070 }), InvalidArgumentError);
    await assert.rejects(openPcpPinhole({ gateway: "::1", internalPort: 0 }), InvalidArgumentError);
  });

  it("PCP over IPv6 with nothing on [::1]:5351 resolves undefined within its timeout", async () => {
    assert.equal(await openPcpPinhole({ gateway: "::1", internalPort: 7070, timeout: 300 }), undefined);
  });
});
