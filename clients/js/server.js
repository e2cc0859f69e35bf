// Server-side helpers for Node 18+ (and any runtime with WebCrypto and fetch): check
// a token from whatsapp-otp-worker, and check a callback it signed. No dependencies.
// `import { verifyToken, verifyCallback } from "whatsapp-otp-client/server"`.

const subtle = globalThis.crypto?.subtle;
const encoder = new TextEncoder();

/** Why a token or a callback was refused; `code` says which check failed. */
export class VerificationError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "VerificationError";
    this.code = code;
  }
}

function base64UrlBytes(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

function base64Bytes(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function bytesBase64(bytes) {
  let binary = "";
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b);
  return btoa(binary);
}

function decodeJson(part, what) {
  try {
    return JSON.parse(new TextDecoder().decode(base64UrlBytes(part)));
  } catch {
    throw new VerificationError("malformed", `The token's ${what} is not JSON.`);
  }
}

/** Constant-time comparison of two strings. */
function sameText(a, b) {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

const jwksCache = new Map();

/** The worker's public keys, cached for five minutes (the worker's own `max-age`). */
async function jwksKeys(jwksUrl, fetchImpl, refresh) {
  const cached = jwksCache.get(jwksUrl);
  if (cached && !refresh && cached.until > Date.now()) return cached.keys;
  const response = await fetchImpl(jwksUrl);
  if (!response.ok) throw new VerificationError("jwks_unavailable", `The JWKS URL answered ${response.status}.`);
  const { keys } = await response.json();
  jwksCache.set(jwksUrl, { keys, until: Date.now() + 300_000 });
  return keys;
}

/**
 * Checks a token from the worker and returns its claims (`sub` is the verified
 * number). ES256 with `jwksUrl` (the worker's `/.well-known/jwks.json`), or HS256 with
 * `secret` (the worker's `TOKEN_SECRET`). Rejects with a `VerificationError` otherwise.
 */
export async function verifyToken(
  token,
  { jwksUrl, secret, issuer = "whatsapp-otp-worker", audience, clockToleranceSeconds = 30, fetch: fetchImpl = globalThis.fetch, now = Date.now() } = {},
) {
  if (typeof token !== "string" || token.split(".").length !== 3) {
    throw new VerificationError("malformed", "Not a JWT.");
  }
  const [headerPart, payloadPart, signaturePart] = token.split(".");
  const header = decodeJson(headerPart, "header");
  const claims = decodeJson(payloadPart, "payload");
  const signed = encoder.encode(`${headerPart}.${payloadPart}`);
  const signature = base64UrlBytes(signaturePart);
  let valid;
  if (jwksUrl) {
    if (header.alg !== "ES256") throw new VerificationError("algorithm", `Expected ES256, got ${header.alg}.`);
    let jwk = (await jwksKeys(jwksUrl, fetchImpl, false)).find((k) => k.kid === header.kid);
    // A new key after a rotation: fetch once more before refusing.
    jwk ??= (await jwksKeys(jwksUrl, fetchImpl, true)).find((k) => k.kid === header.kid);
    if (!jwk) throw new VerificationError("unknown_key", "The token's kid is not in the JWKS.");
    const key = await subtle.importKey("jwk", { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    valid = await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, signature, signed);
  } else if (secret) {
    if (header.alg !== "HS256") throw new VerificationError("algorithm", `Expected HS256, got ${header.alg}.`);
    const key = await subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    valid = await subtle.verify("HMAC", key, signature, signed);
  } else {
    throw new TypeError("verifyToken needs { jwksUrl } (ES256) or { secret } (HS256).");
  }
  if (!valid) throw new VerificationError("signature", "The token's signature does not match.");
  const seconds = Math.floor(now / 1000);
  if (typeof claims.exp !== "number" || claims.exp + clockToleranceSeconds < seconds) {
    throw new VerificationError("expired", "The token has expired.");
  }
  if (claims.iss !== issuer) throw new VerificationError("issuer", `Unexpected issuer ${claims.iss}.`);
  if (audience !== undefined && claims.aud !== audience && !(Array.isArray(claims.aud) && claims.aud.includes(audience))) {
    throw new VerificationError("audience", `Unexpected audience ${claims.aud}.`);
  }
  return claims;
}

/**
 * Checks a callback the worker POSTed (Standard Webhooks: `webhook-id`,
 * `webhook-timestamp`, `webhook-signature`) against `secret` (the worker's
 * `CALLBACK_SECRET`, `whsec_…`), and returns the parsed event. `body` is the raw
 * body as received (a string); `headers` a `Headers` or a plain object. Refuses
 * timestamps more than `toleranceSeconds` away (replays).
 */
export async function verifyCallback(body, headers, secret, { toleranceSeconds = 300, now = Date.now() } = {}) {
  const get = (name) => (typeof headers?.get === "function" ? headers.get(name) : headers?.[name] ?? headers?.[name.toLowerCase()]);
  const id = get("webhook-id");
  const timestamp = get("webhook-timestamp");
  const signatures = get("webhook-signature");
  if (!id || !timestamp || !signatures) throw new VerificationError("missing_headers", "A webhook-* header is missing.");
  if (!/^\d+$/.test(timestamp) || Math.abs(Math.floor(now / 1000) - Number(timestamp)) > toleranceSeconds) {
    throw new VerificationError("timestamp", "The callback's timestamp is too far from now.");
  }
  if (typeof secret !== "string" || !secret.startsWith("whsec_")) throw new TypeError("The secret starts with whsec_.");
  const key = await subtle.importKey("raw", base64Bytes(secret.slice("whsec_".length)), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await subtle.sign("HMAC", key, encoder.encode(`${id}.${timestamp}.${body}`));
  const expected = bytesBase64(mac);
  const matches = signatures.split(" ").some((s) => s.startsWith("v1,") && sameText(s.slice(3), expected));
  if (!matches) throw new VerificationError("signature", "No signature matches.");
  try {
    return JSON.parse(body);
  } catch {
    throw new VerificationError("malformed", "The callback's body is not JSON.");
  }
}
