/** Hand-made addresses for ranking decisions (not signed: pure functions only read their fields). */
import { UNKNOWN_NAT, type AddressInterface, type NatTypeName, type NodeAddress } from "../../src/identity/address.ts";

export function addr(opts: { pub?: string; priv?: string; nat?: NatTypeName; mapped?: boolean; brokers?: boolean }): NodeAddress {
  const nat = { ...UNKNOWN_NAT, type: opts.nat ?? "unknown" };
  const itf: AddressInterface = {
    name: "eth0",
    isDefault: true,
    port: 4000,
    v4: { private: opts.priv ? [opts.priv] : [], public: opts.pub ? [opts.pub] : [] },
    v6: [],
    mappedPort: opts.mapped ? 5000 : undefined,
    mappedVerified: opts.mapped ? true : undefined,
    nat: { tcp: nat, udp: nat },
  };
  return { id: "x", text: "", seq: 1, expires: 0, interfaces: [itf], signaling: opts.brokers === false ? [] : ["mqtt://203.0.113.10:1883"], relays: [] };
}
