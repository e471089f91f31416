import { test } from "node:test";
import assert from "node:assert/strict";
import { checkBrokerUrl, filterBrokerUrls, isPrivateIp, normalizeBrokerUrl, type BrokerUrlOptions } from "../../src/signaling/broker-url.ts";

const CASES: Array<[unknown, BrokerUrlOptions, string]> = [
  // accepted, normalised
  ["mqtt://broker.example.org", {}, "mqtt://broker.example.org:1883"],
  ["MQTTS://Broker.Example.org:8884/", {}, "mqtts://broker.example.org:8884"],
  ["ws://broker.example.org:8080/mqtt", {}, "ws://broker.example.org:8080/mqtt"],
  ["wss://broker.example.org", {}, "wss://broker.example.org:443/"],
  ["mqtt://198.51.100.7:1883", {}, "mqtt://198.51.100.7:1883"],
  ["mqtt://8.8.8.8", {}, "mqtt://8.8.8.8:1883"],
  ["mqtt://[2001:4860::8888]:1883", {}, "mqtt://[2001:4860::8888]:1883"],
  ["ws://[2606:4700::1111]/mqtt?x=1", {}, "bad-path"], // a peer may not choose our HTTP request: no query
  ["ws://[2606:4700::1111]/admin", {}, "bad-path"],
  ["ws://[2606:4700::1111]/mqtt", {}, "ws://[2606:4700::1111]:80/mqtt"],
  ["ws://[2606:4700::1111]/mqtt?x=1", { trusted: ["ws://[2606:4700::1111]/mqtt?x=1"] }, "ws://[2606:4700::1111]:80/mqtt?x=1"], // our own, as configured
  ["mqtt://broker.example.org.", {}, "mqtt://broker.example.org:1883"],
  // syntax
  [42, {}, "not-a-string"],
  ["mqtt://" + "a".repeat(300) + ".org", {}, "too-long"],
  ["mqtt://a.example.org", { maxLength: 10 }, "too-long"],
  ["not a url", {}, "unparseable"],
  ["http://broker.example.org", {}, "bad-scheme"],
  ["tcp://broker.example.org", {}, "bad-scheme"],
  ["file:///etc/passwd", {}, "bad-scheme"],
  ["mqtt://user:pw@broker.example.org", {}, "credentials"],
  ["mqtt://broker.example.org:0", {}, "bad-port"],
  ["mqtt://broker.example.org/topic", {}, "bad-path"],
  ["mqtt://broker.example.org?x=1", {}, "bad-path"],
  ["ws://broker.example.org/#frag", {}, "bad-path"],
  ["mqtt://bro_ker.example.org", {}, "bad-host"],
  ["mqtt://%31%32%37.0.0.1", {}, "bad-host"],
  ["mqtt://[fe80::1%25eth0]", {}, "unparseable"],
  // inet_aton spellings of addresses are never names
  ["mqtt://127.1", {}, "bad-host"],
  ["mqtt://2130706433", {}, "bad-host"],
  ["mqtt://0x7f.0.0.1", {}, "bad-host"],
  ["mqtt://0177.0.0.1", {}, "bad-host"],
  // private, loopback, link-local, CGNAT, unspecified …
  ["mqtt://127.0.0.1:1883", {}, "private-address"],
  ["mqtt://10.1.2.3", {}, "private-address"],
  ["mqtt://172.16.0.1", {}, "private-address"],
  ["mqtt://172.31.255.255", {}, "private-address"],
  ["mqtt://192.168.1.1", {}, "private-address"],
  ["mqtt://169.254.169.254", {}, "private-address"],
  ["mqtt://100.64.0.1", {}, "private-address"],
  ["mqtt://0.0.0.0", {}, "private-address"],
  ["mqtt://224.0.0.1", {}, "private-address"],
  ["mqtt://255.255.255.255", {}, "private-address"],
  ["ws://[::1]:9001/", {}, "private-address"],
  ["mqtt://[::]", {}, "private-address"],
  ["mqtt://[fe80::1]", {}, "private-address"],
  ["mqtt://[fd00::1]", {}, "private-address"],
  ["mqtt://[::ffff:127.0.0.1]", {}, "private-address"],
  ["mqtt://[::ffff:7f00:1]", {}, "private-address"],
  ["mqtt://[64:ff9b::10.0.0.1]", {}, "private-address"],
  ["mqtt://[ff02::1]", {}, "private-address"],
  ["mqtt://localhost:1883", {}, "local-name"],
  ["mqtt://LOCALHOST.", {}, "local-name"],
  ["mqtt://foo.localhost", {}, "local-name"],
  ["mqtt://printer.local", {}, "local-name"],
  ["mqtt://router", {}, "local-name"],
  // the user's own configuration
  ["mqtt://127.0.0.1:1883", { allowPrivate: true }, "mqtt://127.0.0.1:1883"],
  ["mqtt://127.0.0.1:1883", { trusted: ["mqtt://127.0.0.1:1883/"] }, "mqtt://127.0.0.1:1883"],
  ["mqtt://127.0.0.1:1884", { trusted: ["mqtt://127.0.0.1:1883"] }, "private-address"],
  ["ws://[::1]:9001", { trusted: ["ws://[0:0:0:0:0:0:0:1]:9001/"] }, "ws://[::1]:9001/"],
];

test("broker url: table", () => {
  for (const [input, opts, want] of CASES) {
    const v = checkBrokerUrl(input, opts);
    assert.equal(v.ok ? v.url : v.reason, want, `${String(input)} ${JSON.stringify(opts)}`);
  }
});

test("broker url: isPrivateIp table", () => {
  const rows: Array<[string, boolean]> = [
    ["127.0.0.1", true],
    ["126.255.255.255", false],
    ["172.15.255.255", false],
    ["172.32.0.0", false],
    ["100.63.255.255", false],
    ["100.128.0.0", false],
    ["2001:db8::1", false],
    ["::ffff:8.8.8.8", false],
    ["fc00::", true],
    ["febf::1", true],
    ["fec0::1", true],
    ["::1", true],
  ];
  for (const [ip, want] of rows) assert.equal(isPrivateIp(ip), want, ip);
});

test("broker url: a list keeps the first distinct valid URLs up to maxCount", () => {
  const r = filterBrokerUrls(
    ["mqtt://a.example.org", "mqtt://A.example.org:1883", "mqtt://127.0.0.1", "ws://b.example.org/", "mqtt://c.example.org", "mqtt://d.example.org"],
    { maxCount: 3 },
  );
  assert.deepEqual(r.accepted, ["mqtt://a.example.org:1883", "ws://b.example.org:80/", "mqtt://c.example.org:1883"]);
  assert.deepEqual(
    r.rejected.map((x) => x.reason),
    ["duplicate", "private-address", "too-many"],
  );
  assert.deepEqual(filterBrokerUrls("mqtt://x.example.org").accepted, ["mqtt://x.example.org:1883"]);
  assert.equal(normalizeBrokerUrl("mqtt://[::1]"), "mqtt://[::1]:1883");
  assert.equal(normalizeBrokerUrl("ftp://x"), null);
});
