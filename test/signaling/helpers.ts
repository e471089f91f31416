// Shared setup for the signaling tests: real aedes brokers on 127.0.0.1:0 and real nodes.
import type { TestContext } from "node:test";
import mqtt, { type MqttClient } from "mqtt";
import { Identity } from "../../src/identity/identity.ts";
import { startBroker, type RunningBroker } from "../../src/signaling/broker.ts";
import { Signaling, type SignalingOptions } from "../../src/signaling/signaling.ts";

export async function broker(t: TestContext, port = 0): Promise<RunningBroker> {
  const b = await startBroker({ host: "127.0.0.1", port });
  t.after(() => b.close());
  return b;
}

export async function node(t: TestContext, brokers: string[], over: Partial<SignalingOptions> = {}): Promise<Signaling> {
  const s = new Signaling({
    identity: Identity.generate(),
    brokers,
    retryIntervalMs: 300,
    ackedRetryIntervalMs: 600,
    requestTimeoutMs: 8000,
    mqtt: { reconnectInitialMs: 100, reconnectMaxMs: 400, connectTimeoutMs: 2000, startTimeoutMs: 3000 },
    ...over,
  });
  t.after(() => s.close());
  await s.start();
  return s;
}

export async function rawClient(t: TestContext, url: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  t.after(() => c.endAsync(true));
  return c;
}

/** Polls `cond` every 20 ms until it holds or `ms` passes (then fails with `what`). */
export async function until(cond: () => boolean, what: string, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

