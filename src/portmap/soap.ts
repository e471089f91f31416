/**
 * The small slice of UPnP IGD we speak ourselves, pure: finding the WAN
 * connection service in a device description, building SOAP action bodies and
 * reading their answers and faults. Used for IGD v1 (which
 * @achingbrain/nat-port-mapper refuses) and for DeletePortMapping on both
 * versions (the library deletes the internal port instead of the external one).
 * A regex reader is enough for these flat documents; no XML package needed.
 */

export const IGD1 = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";
export const IGD2 = "urn:schemas-upnp-org:device:InternetGatewayDevice:2";
const WAN_SERVICES = [
  "urn:schemas-upnp-org:service:WANIPConnection:2",
  "urn:schemas-upnp-org:service:WANIPConnection:1",
  "urn:schemas-upnp-org:service:WANPPPConnection:1",
];

/** What we need from a device description. */
export interface IgdDescription {
  /** 1 or 2, from the root deviceType. */
  igdVersion: 1 | 2;
  /** The WAN connection service to control (WANIPConnection:2 preferred, then :1, then WANPPPConnection:1). */
  serviceType: string;
  /** Absolute control URL. */
  controlUrl: string;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/**
 * Resolves the five predefined entities and numeric character references. A
 * reference to no character (past U+10FFFF, which made String.fromCodePoint
 * throw a RangeError on a router's answer) becomes U+FFFD.
 */
export function xmlUnescape(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e: string) => {
    if (e[0] === "#") {
      const cp = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return cp <= 0x10ffff ? String.fromCodePoint(cp) : "\ufffd";
    }
    return ENTITIES[e.toLowerCase()] ?? "";
  });
}

/** Escapes text for an element body. */
export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&${({ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos" })[c]};`);
}

/**
 * The next `<tag …>inner</tag>` at or after `from` (any namespace prefix),
 * the first closing tag ending it. Linear in the input: the one-regex version
 * (`<tag(\\s[^>]*)?>([\\s\\S]*?)</tag\\s*>`) rescanned the rest of the
 * document for every unclosed opening tag, and 240 KB of "<deviceType " (under
 * the HTTP size cap) held the event loop for seconds.
 */
function nextElement(xml: string, tag: string, from: number): { inner: string; end: number } | undefined {
  const open = new RegExp(`(?:[\\w.-]+:)?${tag}(?=[\\s>])`, "y");
  const close = new RegExp(`(?:[\\w.-]+:)?${tag}\\s*>`, "y");
  for (let lt = xml.indexOf("<", from); lt >= 0; lt = xml.indexOf("<", lt + 1)) {
    open.lastIndex = lt + 1;
    if (!open.test(xml)) continue;
    // Attributes run to the next '>'; with none left, no later opening tag can end either.
    const gt = xml.indexOf(">", open.lastIndex);
    if (gt < 0) return undefined;
    const start = gt + 1;
    for (let c = xml.indexOf("</", start); c >= 0; c = xml.indexOf("</", c + 2)) {
      close.lastIndex = c + 2;
      if (close.test(xml)) return { inner: xml.slice(start, c), end: close.lastIndex };
    }
    // No closing tag after this one: none after any later opening tag either.
    return undefined;
  }
  return undefined;
}

/** Text of the first element named `tag` (any namespace prefix), unescaped and trimmed; undefined if absent. */
export function xmlText(xml: string, tag: string): string | undefined {
  const m = nextElement(xml, tag, 0);
  return m ? xmlUnescape(m.inner).trim() : undefined;
}

/** Every `<tag>…</tag>` block's inner text (raw). */
function blocks(xml: string, tag: string): string[] {
  const out: string[] = [];
  for (let m = nextElement(xml, tag, 0); m; m = nextElement(xml, tag, m.end)) out.push(m.inner);
  return out;
}

/**
 * Reads a root device description (UPnP Device Architecture §2.3). Returns
 * undefined when the root device is not an InternetGatewayDevice or it has no
 * WAN connection service with a control URL.
 */
export function parseIgdDescription(xml: string, location: string): IgdDescription | undefined {
  const deviceType = xmlText(xml, "deviceType");
  const igdVersion = deviceType === IGD2 ? 2 : deviceType === IGD1 ? 1 : undefined;
  if (!igdVersion) return undefined;
  const base = xmlText(xml, "URLBase") || location;
  const services = blocks(xml, "service").map((b) => ({ type: xmlText(b, "serviceType"), control: xmlText(b, "controlURL") }));
  for (const want of WAN_SERVICES) {
    const s = services.find((x) => x.type === want && x.control);
    if (!s) continue;
    let controlUrl: string;
    try {
      controlUrl = new URL(s.control as string, base).toString();
    } catch {
      continue;
    }
    return { igdVersion, serviceType: want, controlUrl };
  }
  return undefined;
}

/** The SOAP envelope for one action (UDA §3.2.1); arguments in the order the service's SCPD lists them. */
export function soapEnvelope(serviceType: string, action: string, args: ReadonlyArray<readonly [string, string | number]>): string {
  const body = args.map(([k, v]) => `<${k}>${xmlEscape(String(v))}</${k}>`).join("");
  return (
    '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:${action} xmlns:u="${xmlEscape(serviceType)}">${body}</u:${action}></s:Body></s:Envelope>\r\n`
  );
}

/** The SOAPACTION header value: `"serviceType#action"` with the quotes. */
export function soapActionHeader(serviceType: string, action: string): string {
  return `"${serviceType}#${action}"`;
}

/** A SOAP answer: the output arguments by name, or a UPnP fault. */
export type SoapResult = { ok: true; values: Record<string, string> } | { ok: false; errorCode: number; errorDescription: string };

/**
 * Reads a SOAP answer. A fault (HTTP 500, UPnPError in detail) gives the UPnP
 * error code (e.g. 718 ConflictInMappingEntry, 725 OnlyPermanentLeasesSupported);
 * `names` picks the output arguments to return.
 */
export function parseSoapResponse(xml: string, names: readonly string[]): SoapResult {
  if (/<(?:[\w.-]+:)?Fault[\s>]/.test(xml)) {
    const code = Number(xmlText(xml, "errorCode"));
    return { ok: false, errorCode: Number.isInteger(code) ? code : -1, errorDescription: xmlText(xml, "errorDescription") ?? xmlText(xml, "faultstring") ?? "SOAP fault" };
  }
  const values: Record<string, string> = {};
  for (const n of names) {
    const v = xmlText(xml, n);
    if (v !== undefined) values[n] = v;
  }
  return { ok: true, values };
}

/** UPnP WANIPConnection error codes worth naming in messages. */
export const UPNP_ERRORS: Record<number, string> = {
  402: "Invalid Args",
  501: "Action Failed",
  606: "Action not authorized",
  714: "NoSuchEntryInArray",
  715: "WildCardNotPermittedInSrcIP",
  716: "WildCardNotPermittedInExtPort",
  718: "ConflictInMappingEntry",
  724: "SamePortValuesRequired",
  725: "OnlyPermanentLeasesSupported",
  726: "RemoteHostOnlySupportsWildcard",
  727: "ExternalPortOnlySupportsWildcard",
  728: "NoPortMapsAvailable",
  729: "ConflictWithOtherMechanisms",
};
