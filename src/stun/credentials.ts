/**
 * The client side of the long-term credential mechanism (RFC 8489 §9.2): the
 * nonce cookie with its security feature bits, password algorithm
 * negotiation (MD5, or SHA-256 with MESSAGE-INTEGRITY-SHA256 when the server
 * offers it) and the bid-down check of §9.2.5. Pure: no sockets, no clock;
 * the TURN client sends and retries.
 */
import { StunError } from "../errors.ts";
import {
  getAttribute,
  longTermKey,
  PasswordAlgorithm,
  verifyIntegrity,
  verifyIntegritySha256,
  type DecodedStunMessage,
  type EncodeOptions,
  type PasswordAlgorithmValue,
  type StunAttribute,
} from "./codec.ts";

/** RFC 8489 §9.2: a nonce that starts with this carries the server's security feature set. */
export const NONCE_COOKIE = "obMatJos2";

export interface SecurityFeatures {
  /** The server offered PASSWORD-ALGORITHMS: a 401/438 without that attribute was tampered with (§9.2.5). */
  passwordAlgorithms: boolean;
  usernameAnonymity: boolean;
}

const B64 = /^[A-Za-z0-9+/]{4}$/;

/**
 * The security features in a nonce cookie, or undefined for a nonce without
 * the cookie. Throws StunError for a cookie whose feature set is not 4 base64
 * characters: a cookie someone mangled must not read as "no features".
 *
 * RFC 8489 numbers the 24 bits from 0 ("Password algorithms") and 1
 * ("Username anonymity"). Implementations read that both ways, MSB-first as
 * the RFC's figures count (0x800000, "gAAA") and LSB-first (0x000001,
 * "AAAB"); the unassigned bits are never set, so either bit means the feature.
 * Honouring both can only make the downgrade check stricter.
 */
export function nonceSecurityFeatures(nonce: string): SecurityFeatures | undefined {
  if (!nonce.startsWith(NONCE_COOKIE)) return undefined;
  const chars = nonce.slice(NONCE_COOKIE.length, NONCE_COOKIE.length + 4);
  if (!B64.test(chars)) throw new StunError("NONCE: the nonce cookie's security feature set is not 4 base64 characters");
  const b = Buffer.from(chars, "base64");
  const bits = (b[0] << 16) | (b[1] << 8) | b[2];
  return {
    passwordAlgorithms: (bits & 0x800000) !== 0 || (bits & 0x000001) !== 0,
    usernameAnonymity: (bits & 0x400000) !== 0 || (bits & 0x000002) !== 0,
  };
}

/** True when both PASSWORD-ALGORITHMS lists hold the same entries in the same order. */
export function samePasswordAlgorithms(a: readonly PasswordAlgorithmValue[], b: readonly PasswordAlgorithmValue[]): boolean {
  return a.length === b.length && a.every((x, i) => x.algorithm === b[i].algorithm && Buffer.compare(x.parameters, b[i].parameters) === 0);
}

/** What to do after a 401 or 438: send again with the new state, give up (not a challenge we can answer), or refuse (`error`). */
export type ChallengeOutcome = { retry: true } | { retry: false; error?: string };

/**
 * One client's long-term credentials on one server. `challenge()` learns
 * realm, nonce and algorithm from a 401/438; `attributes()` and
 * `encodeOptions()` authenticate the next request; `verify()` checks an answer.
 */
export class LongTermAuth {
  readonly username: string;
  readonly #password: string;
  #realm?: string;
  #nonce?: string;
  #key?: Uint8Array;
  #algorithm: "md5" | "sha256" = "md5";
  /** The server's PASSWORD-ALGORITHMS from the first 401, echoed in every request (§9.2.4). */
  #offered?: PasswordAlgorithmValue[];

  constructor(username: string, password: string) {
    this.username = username;
    this.#password = password;
  }

  /** True once a 401 gave us a realm and nonce: requests carry credentials. */
  get ready(): boolean {
    return this.#key !== undefined;
  }

  /** The password algorithm in use: "sha256" only when the server offered it. */
  get algorithm(): "md5" | "sha256" {
    return this.#algorithm;
  }

  /** Realm, nonce and key for a request made elsewhere (RFC 6062 ConnectionBind), once ready. */
  get state(): { realm: string; nonce: string; key: Uint8Array } | undefined {
    return this.#key ? { realm: this.#realm!, nonce: this.#nonce!, key: this.#key } : undefined;
  }

  /** A fresh nonce learnt elsewhere (a 438 on a ConnectionBind connection). */
  set nonce(n: string) {
    this.#nonce = n;
  }

  /** The credential attributes of the next request (none before the first 401). */
  attributes(): StunAttribute[] {
    if (!this.#key) return [];
    const attrs: StunAttribute[] = [
      { type: "USERNAME", value: this.username },
      { type: "REALM", value: this.#realm! },
      { type: "NONCE", value: this.#nonce! },
    ];
    if (this.#offered) {
      const chosen = this.#algorithm === "sha256" ? PasswordAlgorithm.SHA256 : PasswordAlgorithm.MD5;
      attrs.push({ type: "PASSWORD-ALGORITHMS", value: this.#offered }, { type: "PASSWORD-ALGORITHM", value: { algorithm: chosen, parameters: new Uint8Array(0) } });
    }
    return attrs;
  }

  /** MESSAGE-INTEGRITY (MD5 key) or MESSAGE-INTEGRITY-SHA256 (SHA-256 key) for the next request. */
  encodeOptions(): Pick<EncodeOptions, "integrityKey" | "integritySha256Key"> {
    if (!this.#key) return {};
    return this.#algorithm === "sha256" ? { integritySha256Key: this.#key } : { integrityKey: this.#key };
  }

  /**
   * Checks an answer to an authenticated request: every integrity attribute
   * it carries must match our key, and with SHA-256 agreed a SHA-1
   * MESSAGE-INTEGRITY alone is not enough. Unprotected answers pass (servers
   * send unprotected errors). Returns why it failed, or undefined.
   */
  verify(res: DecodedStunMessage): string | undefined {
    const key = this.#key;
    if (!key) return undefined;
    const sha256 = res.integritySha256Offset !== undefined;
    if (sha256 && !verifyIntegritySha256(res, key)) return "a bad MESSAGE-INTEGRITY-SHA256";
    if (this.#algorithm === "sha256") return !sha256 && res.integrityOffset !== undefined ? "MESSAGE-INTEGRITY only, though SHA-256 was agreed" : undefined;
    if (res.integrityOffset !== undefined && !verifyIntegrity(res, key)) return "a bad MESSAGE-INTEGRITY";
    return undefined;
  }

  /** Learns from a 401 (only before credentials are set) or a 438 (a new nonce). */
  challenge(code: number, res: DecodedStunMessage): ChallengeOutcome {
    const realm = getAttribute(res, "REALM");
    const nonce = getAttribute(res, "NONCE");
    if (!nonce || (code === 401 && (!realm || this.#key))) return { retry: false };
    let features: SecurityFeatures | undefined;
    try {
      features = nonceSecurityFeatures(nonce);
    } catch (err) {
      return { retry: false, error: (err as Error).message };
    }
    const offered = getAttribute(res, "PASSWORD-ALGORITHMS");
    // §9.2.5: the cookie says the server offered algorithms; without the list someone removed it.
    if (features?.passwordAlgorithms && !offered) return { retry: false, error: `${code} whose nonce cookie says PASSWORD-ALGORITHMS were offered, but without them (a downgrade?)` };
    if (this.#key && (this.#offered !== undefined || offered !== undefined) && !(this.#offered && offered && samePasswordAlgorithms(this.#offered, offered))) {
      return { retry: false, error: `${code} with PASSWORD-ALGORITHMS other than the first challenge's (a downgrade?)` };
    }
    if (!this.#key) {
      const pick = offered && pickAlgorithm(offered);
      if (offered && !pick) return { retry: false, error: `401 offers no password algorithm we support (${offered.map((a) => a.algorithm).join(", ")})` };
      this.#offered = offered;
      this.#algorithm = pick ?? "md5";
    }
    this.#nonce = nonce;
    if (realm && realm !== this.#realm) {
      this.#realm = realm;
      this.#key = longTermKey(this.username, realm, this.#password, this.#algorithm);
    }
    return { retry: true };
  }
}

/** SHA-256 when offered (the stronger one), else MD5; neither: undefined. Only parameterless entries, as both are defined. */
function pickAlgorithm(offered: readonly PasswordAlgorithmValue[]): "md5" | "sha256" | undefined {
  const has = (n: number) => offered.some((a) => a.algorithm === n && a.parameters.length === 0);
  return has(PasswordAlgorithm.SHA256) ? "sha256" : has(PasswordAlgorithm.MD5) ? "md5" : undefined;
}
