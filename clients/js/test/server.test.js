// The server-side helpers, without a worker: tokens signed here the way the worker
// signs them (ES256 with a kid, HS256), a JWKS served on loopback, and the Standard
// Webhooks specification's own example. (The quick starts' end-to-end test checks a
// real worker's token with verifyToken too.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createHmac, generateKeyPairSync, sign } from "node:crypto";
import { verifyToken, verifyCallback, VerificationError } from "../server.js";

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const now = Math.floor(Date.now() / 1000);
const claims = { iss: "whatsapp-otp-worker", sub: "+14155550123", aud: "my-backend", iat: now, exp: now + 600, jti: "otp_x", amr: ["otp"], verified_via: "code" };

function es256(privateKey, kid, payload = claims) {
  const signing = `${b64url(JSON.stringify({ alg: "ES256", typ: "JWT", kid }))}.${b64url(JSON.stringify(payload))}`;
  const signature = sign("sha256", Buffer.from(signing), { key: privateKey, dsaEncoding: "ieee-p1363" });
  return `${signing}.${b64url(signature)}`;
}

function hs256(secret, payload = claims) {
  const signing = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify(payload))}`;
  return `${signing}.${createHmac("sha256", secret).update(signing).digest("base64url")}`;
}

async function refusal(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof VerificationError, `${err}`);
    return err.code;
  }
  assert.fail("accepted");
}

test("ES256 tokens are checked against the JWKS, HS256 against the secret", async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = { ...publicKey.export({ format: "jwk" }), kid: "k1", alg: "ES256", use: "sig" };
  let fetches = 0;
  const server = createServer((req, res) => {
    fetches++;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const jwksUrl = `http://127.0.0.1:${server.address().port}/.well-known/jwks.json`;

  const got = await verifyToken(es256(privateKey, "k1"), { jwksUrl, audience: "my-backend" });
  assert.equal(got.sub, "+14155550123");
  await verifyToken(es256(privateKey, "k1"), { jwksUrl });
  assert.equal(fetches, 1, "the keys are cached");
  assert.equal(await refusal(verifyToken(es256(other.privateKey, "k1"), { jwksUrl })), "signature");
  assert.equal(await refusal(verifyToken(es256(privateKey, "k2"), { jwksUrl })), "unknown_key");
  assert.equal(fetches, 2, "an unknown kid fetches the keys once more");
  assert.equal(await refusal(verifyToken(es256(privateKey, "k1"), { jwksUrl, audience: "someone-else" })), "audience");
  assert.equal(await refusal(verifyToken(es256(privateKey, "k1", { ...claims, exp: now - 60 }), { jwksUrl })), "expired");
  assert.equal(await refusal(verifyToken(es256(privateKey, "k1", { ...claims, iss: "x" }), { jwksUrl })), "issuer");
  // An HS256 token where ES256 is expected (the classic algorithm confusion) is refused.
  assert.equal(await refusal(verifyToken(hs256("s"), { jwksUrl })), "algorithm");
  assert.equal(await refusal(verifyToken("not.a-token", { jwksUrl })), "malformed");

  const secret = "dev-token-secret-not-for-production-01";
  assert.equal((await verifyToken(hs256(secret), { secret, audience: "my-backend" })).sub, "+14155550123");
  assert.equal(await refusal(verifyToken(hs256("another-secret"), { secret })), "signature");
  await assert.rejects(verifyToken(hs256(secret), {}), TypeError);
});

test("callbacks: the Standard Webhooks example verifies; changed ones do not", async () => {
  // The specification's own test vector (github.com/standard-webhooks/standard-webhooks).
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const body = '{"test": 2432232314}';
  const headers = {
    "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "webhook-timestamp": "1614265330",
    "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
  };
  const at = 1614265330 * 1000;
  assert.deepEqual(await verifyCallback(body, headers, secret, { now: at }), { test: 2432232314 });
  assert.deepEqual(await verifyCallback(body, new Headers(headers), secret, { now: at }), { test: 2432232314 });
  // Several signatures (during a secret rotation): any one that matches.
  const rotated = { ...headers, "webhook-signature": `v1,bm90IGl0 ${headers["webhook-signature"]}` };
  await verifyCallback(body, rotated, secret, { now: at });
  assert.equal(await refusal(verifyCallback(body.replace("2", "3"), headers, secret, { now: at })), "signature");
  assert.equal(await refusal(verifyCallback(body, { ...headers, "webhook-id": "msg_other" }, secret, { now: at })), "signature");
  assert.equal(await refusal(verifyCallback(body, headers, secret, { now: at + 600_000 })), "timestamp");
  assert.equal(await refusal(verifyCallback(body, {}, secret, { now: at })), "missing_headers");
});
