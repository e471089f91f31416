/**
 * Shared fuzz harness (issue 9). A target is one decoder of peer or network
 * input plus an arbitrary of inputs for it: random bytes and mutations of real
 * messages the project's own encoders produced (random bytes alone rarely get
 * past the first length or magic check). Both the brief property tests
 * (test/fuzz/*.test.ts) and the long runner (fuzz/run.ts) use `checkOne`, so a
 * runner finding replays as a test.
 */
import fc from "fast-check";
import { isP2PError } from "../src/errors.ts";

export interface FuzzTarget<T = any> {
  /** "<group>.<decoder>"; `--only` matches a substring of it. */
  name: string;
  arb: fc.Arbitrary<T>;
  /** The decoder under test; may return a promise (stream-driven decoders). */
  run(input: T): unknown;
  /** "typed": may throw only P2PErrors; "never": documented never to throw (returns null / a result). */
  throws: "typed" | "never";
  /** Extra invariant on a returned value (throws an assertion error if broken). */
  check?(input: T, result: unknown): void;
  /** Counts a returned value as a rejection (null, undefined, `{ ok: false }` by default). */
  rejected?(result: unknown): boolean;
  /** Cap for `npm run fuzz` when the input space is small (an exhaustive check needs no million runs). */
  maxRuns?: number;
  /** Inputs per run in `npm test`. @default 500 */
  testRuns?: number;
  /** Hex (or JSON) form of an input for a bug report. */
  show?(input: T): string;
  /** Set while a bug found here waits for a fix in a file this work may not edit. */
  todo?: string;
}

export type Outcome = "accepted" | "rejected" | "typed-error";

/** The input could not be decoded and the decoder broke its contract (untyped error, throw from a never-throw API, broken invariant). */
export class FuzzFailure extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FuzzFailure";
  }
}

const defaultRejected = (r: unknown) => r === null || r === undefined || (typeof r === "object" && (r as { ok?: unknown }).ok === false);

function describeErr(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}\n${(err.stack ?? "").split("\n").slice(1, 6).join("\n")}`;
  return String(err);
}

export function showInput(t: FuzzTarget, input: unknown): string {
  if (t.show) return t.show(input);
  if (input instanceof Uint8Array) return Buffer.from(input).toString("hex");
  try {
    return JSON.stringify(input, (_k, v) => (v instanceof Uint8Array ? `<hex ${Buffer.from(v).toString("hex")}>` : v)).slice(0, 4000);
  } catch {
    return String(input).slice(0, 4000);
  }
}

function judge<T>(t: FuzzTarget<T>, input: T, ok: boolean, value: unknown): Outcome {
  if (!ok) {
    if (t.throws === "typed" && isP2PError(value)) return "typed-error";
    const why = t.throws === "never" ? "threw although it must never throw" : "threw an untyped error";
    throw new FuzzFailure(`${t.name} ${why}: ${describeErr(value)}\ninput: ${showInput(t, input)}`, { cause: value });
  }
  if ((t.rejected ?? defaultRejected)(value)) return "rejected";
  if (t.check) {
    try {
      t.check(input, value);
    } catch (err) {
      throw new FuzzFailure(`${t.name} broke an invariant: ${describeErr(err)}\ninput: ${showInput(t, input)}`, { cause: err });
    }
  }
  return "accepted";
}

/** Runs one input; resolves with how the decoder answered, or throws FuzzFailure. Synchronous decoders stay synchronous. */
export function checkOne<T>(t: FuzzTarget<T>, input: T): Outcome | Promise<Outcome> {
  let r: unknown;
  try {
    r = t.run(input);
  } catch (err) {
    return judge(t, input, false, err);
  }
  if (r instanceof Promise) return r.then((v) => judge(t, input, true, v), (e) => judge(t, input, false, e));
  return judge(t, input, true, r);
}

// ---------------------------------------------------------------- byte mutations

/** Boundary values written over length fields and counters. */
export const INTERESTING: Readonly<Record<1 | 2 | 4, readonly number[]>> = {
  1: [0, 1, 2, 0x3f, 0x40, 0x7f, 0x80, 0xfe, 0xff],
  2: [0, 1, 2, 3, 4, 12, 16, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x4000, 0x7fff, 0x8000, 0xfffe, 0xffff],
  4: [0, 1, 4, 12, 28, 0xff, 0xffff, 0x10000, 0x100000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff],
};

export type Mutation =
  | { k: "flip"; pos: number; bit: number }
  | { k: "set"; pos: number; byte: number }
  | { k: "truncate"; pos: number }
  | { k: "extend"; bytes: Uint8Array }
  | { k: "insert"; pos: number; bytes: Uint8Array }
  | { k: "delete"; pos: number; len: number }
  | { k: "splice"; other: number; pos: number; from: number }
  | { k: "int"; pos: number; width: 1 | 2 | 4; abs: boolean; value: number }
  | { k: "dict"; pos: number; token: number; overwrite: boolean }
  | { k: "repeat"; pos: number; len: number; times: number };

const pos = fc.nat({ max: 0xffff });

export function mutationArb(seedCount: number, dictSize: number): fc.Arbitrary<Mutation> {
  const ops: Array<fc.Arbitrary<Mutation>> = [
    fc.record({ k: fc.constant("flip" as const), pos, bit: fc.nat({ max: 7 }) }),
    fc.record({ k: fc.constant("set" as const), pos, byte: fc.oneof(fc.constantFrom(...INTERESTING[1]), fc.nat({ max: 255 })) }),
    fc.record({ k: fc.constant("truncate" as const), pos }),
    fc.record({ k: fc.constant("extend" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 48 }) }),
    fc.record({ k: fc.constant("insert" as const), pos, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ k: fc.constant("delete" as const), pos, len: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ k: fc.constant("splice" as const), other: fc.nat({ max: Math.max(0, seedCount - 1) }), pos, from: pos }),
    fc.constantFrom(1 as const, 2 as const, 4 as const).chain((width) =>
      fc.record({
        k: fc.constant("int" as const),
        pos,
        width: fc.constant(width),
        abs: fc.boolean(),
        value: fc.oneof(fc.constantFrom(...INTERESTING[width]), fc.integer({ min: -4, max: 4 })),
      }),
    ),
    fc.record({ k: fc.constant("repeat" as const), pos, len: fc.integer({ min: 1, max: 32 }), times: fc.integer({ min: 2, max: 40 }) }),
  ];
  if (dictSize > 0) ops.push(fc.record({ k: fc.constant("dict" as const), pos, token: fc.nat({ max: dictSize - 1 }), overwrite: fc.boolean() }));
  return fc.oneof(...ops);
}

function readUint(b: Uint8Array, at: number, width: number): number {
  let v = 0;
  for (let i = 0; i < width; i++) v = v * 256 + b[at + i];
  return v;
}

function writeUint(b: Uint8Array, at: number, width: number, v: number): void {
  const m = 2 ** (8 * width);
  let x = ((v % m) + m) % m;
  for (let i = width - 1; i >= 0; i--) {
    b[at + i] = x & 0xff;
    x = Math.floor(x / 256);
  }
}

const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** Applies mutations to a copy of `seed`; positions wrap around the current length. */
export function mutate(seed: Uint8Array, ops: readonly Mutation[], seeds: readonly Uint8Array[], dict: readonly Uint8Array[] = []): Uint8Array {
  // Uint8Array.from, not seed.slice(): Buffer#slice is a view, and flips would rewrite the seed itself.
  let b = Uint8Array.from(seed);
  for (const op of ops) {
    const at = (p: number) => p % (b.length + 1);
    switch (op.k) {
      case "flip":
        if (b.length) b[op.pos % b.length] ^= 1 << op.bit;
        break;
      case "set":
        if (b.length) b[op.pos % b.length] = op.byte;
        break;
      case "truncate":
        b = b.slice(0, at(op.pos));
        break;
      case "extend":
        b = cat(b, op.bytes);
        break;
      case "insert": {
        const p = at(op.pos);
        b = cat(b.subarray(0, p), op.bytes, b.subarray(p));
        break;
      }
      case "delete": {
        const p = at(op.pos);
        b = cat(b.subarray(0, p), b.subarray(p + op.len));
        break;
      }
      case "splice": {
        const o = seeds[op.other % seeds.length] ?? seed;
        const p = at(op.pos);
        b = cat(b.subarray(0, p), o.subarray(op.from % (o.length + 1)));
        break;
      }
      case "int": {
        if (b.length < op.width) break;
        const p = op.pos % (b.length - op.width + 1);
        writeUint(b, p, op.width, op.abs ? op.value : readUint(b, p, op.width) + op.value);
        break;
      }
      case "dict": {
        const tok = dict[op.token % dict.length];
        if (!tok) break;
        const p = at(op.pos);
        b = op.overwrite ? cat(b.subarray(0, p), tok, b.subarray(p + tok.length)) : cat(b.subarray(0, p), tok, b.subarray(p));
        break;
      }
      case "repeat": {
        const p = at(op.pos);
        const chunk = b.subarray(p, p + op.len);
        if (!chunk.length) break;
        b = cat(b.subarray(0, p), ...Array<Uint8Array>(op.times).fill(chunk), b.subarray(p));
        break;
      }
    }
  }
  return b;
}

export interface BytesOptions {
  /** Tokens the "dict" mutation writes in (magic values, small-order keys …). */
  dict?: readonly Uint8Array[];
  /** Longest purely random input. @default 256 */
  maxRandom?: number;
  /** Most mutations stacked on one seed. @default 4 */
  maxOps?: number;
}

/** Seeds as they are, seeds mutated, and random bytes. */
export function fuzzBytes(seeds: readonly Uint8Array[], o: BytesOptions = {}): fc.Arbitrary<Uint8Array> {
  if (!seeds.length) throw new Error("fuzzBytes needs at least one seed");
  // Private plain copies: a caller's Buffer seeds must never be shared with (or changed by) an input.
  seeds = seeds.map((x) => Uint8Array.from(x));
  const dict = o.dict ?? [];
  const mutated = fc
    .record({ seed: fc.nat({ max: seeds.length - 1 }), ops: fc.array(mutationArb(seeds.length, dict.length), { minLength: 1, maxLength: o.maxOps ?? 4 }) })
    .map(({ seed, ops }) => mutate(seeds[seed], ops, seeds, dict));
  return fc.oneof(
    { arbitrary: fc.constantFrom(...seeds).map((s) => Uint8Array.from(s)), weight: 1 },
    { arbitrary: mutated, weight: 14 },
    { arbitrary: fc.uint8Array({ maxLength: o.maxRandom ?? 256 }), weight: 3 },
  );
}

/** Text decoders: mutations of the seeds' bytes read back as UTF-8 or Latin-1, plus random strings. */
export function fuzzText(seeds: readonly string[], o: BytesOptions & { maxLength?: number } = {}): fc.Arbitrary<string> {
  const bytes = fuzzBytes(seeds.map((s) => new Uint8Array(Buffer.from(s, "utf8"))), o);
  return fc.oneof(
    { arbitrary: fc.tuple(bytes, fc.boolean()).map(([b, latin]) => Buffer.from(b).toString(latin ? "latin1" : "utf8")), weight: 8 },
    { arbitrary: fc.string({ unit: "binary", maxLength: o.maxLength ?? 128 }), weight: 1 },
    { arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: o.maxLength ?? 128 }), weight: 1 },
  );
}

// ---------------------------------------------------------------- JSON mutations

/** Values that break naive validators: wrong types, boundaries, huge, nested, prototype keys. */
const NASTY_JSON: readonly unknown[] = [
  null, true, false, 0, 1, -1, 0.5, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, -(2 ** 31), 2 ** 32, 65535, 65536,
  "", "a", "0", "x".repeat(5000), "\u0000", "\ud800", "__proto__", "constructor", "toString",
  [], [null], Array(40).fill(0), {}, { __proto__: null }, [[[[[[[[[[]]]]]]]]]],
];

export type JsonEdit = { path: number[]; action: "replace" | "delete" | "wrap" | "duplicate" | "key"; value: unknown; key: string };

function children(v: unknown): Array<[string | number, unknown]> {
  if (Array.isArray(v)) return v.map((x, i) => [i, x]);
  if (v && typeof v === "object") return Object.entries(v);
  return [];
}

/** Applies one structural edit to a JSON-clean copy. */
function editJson(root: unknown, e: JsonEdit): unknown {
  const doc = { v: structuredClone(root) } as Record<string | number, unknown>;
  let parent: Record<string | number, unknown> = doc;
  let key: string | number = "v";
  for (const p of e.path) {
    const kids = children(parent[key]);
    if (!kids.length) break;
    const [k] = kids[p % kids.length];
    parent = parent[key] as Record<string | number, unknown>;
    key = k;
  }
  const cur = parent[key];
  switch (e.action) {
    case "replace":
      parent[key] = e.value;
      break;
    case "delete":
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    case "wrap":
      parent[key] = [cur];
      break;
    case "duplicate":
      if (Array.isArray(cur)) parent[key] = [...cur, ...cur, ...cur];
      else parent[key] = { ...(cur as object), [e.key]: cur };
      break;
    case "key":
      if (cur && typeof cur === "object" && !Array.isArray(cur)) Object.defineProperty(cur, e.key, { value: e.value, enumerable: true, writable: true, configurable: true });
      break;
  }
  return doc.v;
}

/** JSON bodies: seeds, structural edits of seeds (through JSON text, as on the wire), random JSON, and seeds' text mutated. */
export function fuzzJson(seeds: readonly unknown[], o: { keys?: readonly string[] } = {}): fc.Arbitrary<unknown> {
  const keys = [...(o.keys ?? []), "__proto__", "constructor", "body", "ok", "re", "error", "code"];
  const value = fc.oneof({ arbitrary: fc.constantFrom(...NASTY_JSON), weight: 3 }, { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 2 }, { arbitrary: fc.constantFrom(...seeds), weight: 1 });
  const edit: fc.Arbitrary<JsonEdit> = fc.record({
    path: fc.array(fc.nat({ max: 64 }), { maxLength: 4 }),
    action: fc.constantFrom("replace" as const, "delete" as const, "wrap" as const, "duplicate" as const, "key" as const),
    value,
    key: fc.constantFrom(...keys),
  });
  const edited = fc
    .record({ seed: fc.nat({ max: seeds.length - 1 }), edits: fc.array(edit, { minLength: 1, maxLength: 4 }) })
    .map(({ seed, edits }) => JSON.parse(JSON.stringify(edits.reduce((v, e) => editJson(v, e), seeds[seed])) ?? "null") as unknown);
  const text = fuzzBytes(seeds.map((s) => new Uint8Array(Buffer.from(JSON.stringify(s)))), { maxRandom: 64 }).map((b) => {
    const s = Buffer.from(b).toString("utf8");
    try {
      return JSON.parse(s) as unknown;
    } catch {
      return s;
    }
  });
  return fc.oneof(
    { arbitrary: fc.constantFrom(...seeds), weight: 1 },
    { arbitrary: edited, weight: 10 },
    { arbitrary: text, weight: 4 },
    { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 },
    { arbitrary: fc.uint8Array({ maxLength: 64 }), weight: 1 }, // a binary envelope body reaches the same parsers
  );
}

/** Splits `data` into chunks (stream decoders must not care how bytes arrive). */
export function chunked(data: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  let i = 0;
  while (off < data.length) {
    const n = Math.max(1, sizes.length ? sizes[i++ % sizes.length] : data.length);
    out.push(data.subarray(off, off + n));
    off += n;
  }
  return out;
}

export const chunkSizes = fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 8 });
