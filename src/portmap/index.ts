/**
 * Port mapping (issue 4): ask the gateway for a mapping of the node's TCP port
 * with PCP, NAT-PMP or UPnP IGD v1/v2, keep it renewed, remove it on close,
 * and verify it from outside. See docs/portmap.md.
 */
export { startPortMapping } from "./start.ts";
export { stunDialPortVerifier, hairpinVerifier } from "./verify.ts";
export { findDefaultGateway, parseDefaultGateway } from "./gateway.ts";
export { PORT_MAPPING_DEFAULTS, type PortMapping, type PortMappingEvents, type PortMappingMethod, type PortMappingOptions, type PortMappingProtocol, type PortMappingVerifier } from "./types.ts";
export { openPcpPinhole, openPinhole, pinholeDriver, type PcpPinholeOptions, type PinholeOptions } from "./pinhole.ts";
