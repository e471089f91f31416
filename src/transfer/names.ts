/**
 * Which file names a receiver accepts from a peer. Pure. A name is one plain
 * path component: no directories, nothing absolute, nothing a filesystem or a
 * terminal treats specially, and nothing that collides with our own partial
 * files. Symlinks are refused separately when the file is opened (disk.ts).
 */

/** Suffix of a partial file; its sidecar adds ".json". */
export const PART_SUFFIX = ".p2pnode-part";
/** Longest name in UTF-8 bytes: 255 (the usual filesystem limit) minus the sidecar suffix. */
export const MAX_NAME_BYTES = 255 - (PART_SUFFIX.length + ".json".length);

// Windows device names, with or without an extension ("con.txt" opens the console there).
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/i;
// C0 and C1 controls, line/paragraph separators, bidi overrides and isolates (a name that reads differently than it is).
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\ufeff]/;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why `name` is refused, or undefined when it is safe to create inside the output directory. */
export function unsafeName(name: unknown): string | undefined {
  if (typeof name !== "string" || name.length === 0) return "empty name";
  if (name.includes("\u0000")) return "contains a NUL byte";
  if (LONE_SURROGATE.test(name)) return "is not valid Unicode";
  if (name === "." || name === "..") return "is a directory reference";
  if (name.includes("/") || name.includes("\\")) return "contains a path separator (only plain file names are accepted)";
  if (/^[a-z]:/i.test(name)) return "starts with a drive letter";
  if (name.includes(":")) return "contains ':' (a drive or an alternate data stream on Windows)";
  if (INVISIBLE.test(name)) return "contains control or invisible direction characters";
  if (/[<>"|?*]/.test(name)) return "contains a character Windows forbids (< > \" | ? *)";
  if (/[. ]$/.test(name)) return "ends with a dot or a space";
  if (RESERVED.test(name)) return "is a reserved device name on Windows";
  if (name.endsWith(PART_SUFFIX) || name.endsWith(`${PART_SUFFIX}.json`)) return `ends with ${PART_SUFFIX} (the receiver's own partial files)`;
  if (Buffer.byteLength(name, "utf8") > MAX_NAME_BYTES) return `is longer than ${MAX_NAME_BYTES} bytes`;
  return undefined;
}

/** The key two names collide under on case-insensitive, normalising filesystems. */
export function nameKey(name: string): string {
  return name.normalize("NFC").toLowerCase();
}
