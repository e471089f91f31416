/**
 * The servers an IPv6 lab test needs on srv: a mosquitto on srv's IPv6 address (signaling
 * over IPv6) and our STUN server on srv's two IPv4 addresses (discovery stays on IPv4).
 * Also the closing "# …" lines that list a file's measured cases.
 */
import { PUBLIC_HOSTS, type Lab } from "./lab.ts";

const CLI = new URL("../../bin/p2pnode.js", import.meta.url).pathname;
const [SRV1, SRV2] = PUBLIC_HOSTS.srv.ips;
export const STUN_V4 = `stun:${SRV1}:5478`;

/** Starts both on `lab` and returns the broker's URL. */
export async function startIpv6Servers(lab: Lab): Promise<string> {
  const broker = (await lab.startMosquitto6()).url;
  const stun = lab.spawn("srv", process.execPath, [CLI, "stun", "--host", SRV1, "--port", "5478", "--alt-host", SRV2, "--alt-port", "5479", "--json"]);
  await stun.waitForLine(/"event":"ready"/, 15_000);
  return broker;
}

/** Prints `title` and one line per measured case as TAP comments. */
export function printCases(title: string, cases: readonly string[]): void {
  if (!cases.length) return;
  process.stdout.write(`# ${title}\n`);
  for (const c of cases) process.stdout.write(`# ${c}\n`);
}
