// The client against the real worker (in workerd) and the Cloud API stand-in.
// OTP_WORKER_URL: a worker with a short resend cooldown; OTP_STANDIN_URL: its stand-in;
// OTP_SHORT_TTL_URL (optional): a worker whose codes live 2 seconds, with a 30 s cooldown.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createClient, OtpError, FINAL_STATUSES } from "../index.js";

const WORKER = process.env.OTP_WORKER_URL;
const STANDIN = process.env.OTP_STANDIN_URL;
const SHORT_TTL = process.env.OTP_SHORT_TTL_URL;
if (!WORKER || !STANDIN) throw new Error("set OTP_WORKER_URL and OTP_STANDIN_URL (the e2e runner does)");

const otp = createClient({ baseUrl: WORKER });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const phone = () => `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;

async function standin(path, body) {
  const res = await fetch(STANDIN + path, body && { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res.json();
}

/** The newest template sent to `number`: its code and Meta's message id. */
async function lastMessage(number, count = 1) {
  for (let i = 0; i < 100; i++) {
    const { messages } = await standin(`/control/inbox?to=${number.slice(1)}`);
    const templates = messages.filter((m) => m.type === "template");
    if (templates.length >= count) return templates[templates.length - 1];
    await sleep(100);
  }
  throw new Error(`no message reached ${number}`);
}

async function rejects(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail("expected a rejection");
}

test("/client.js is this package's module, byte for byte", async () => {
  const res = await fetch(`${WORKER}/client.js`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.match(res.headers.get("cache-control"), /max-age=\d+/);
  assert.equal(await res.text(), await readFile(new URL("../index.js", import.meta.url), "utf8"));
});

test("request, then verify with the code: camelCased answers and a JWT", async () => {
  const number = phone();
  const req = await otp.request(number);
  assert.match(req.requestId, /^otp_[A-Za-z0-9_-]{22}$/);
  assert.equal(typeof req.expiresAt, "string");
  assert.ok(req.expiresIn > 0 && req.resendAfter > 0 && req.attemptsLeft > 0, JSON.stringify(req));
  const { code } = await lastMessage(number);
  const ok = await otp.verify(req.requestId, code);
  assert.equal(ok.verified, true);
  assert.equal(ok.requestId, req.requestId);
  assert.equal(ok.token.split(".").length, 3);
  assert.ok(Date.parse(ok.tokenExpiresAt) > Date.now());
  const again = await rejects(otp.verify(req.requestId, code));
  assert.ok(again instanceof OtpError && again instanceof Error);
  assert.equal(again.code, "already_verified");
  assert.equal(again.status, 409);
});

test("verify by phone checks the number's live request", async () => {
  const number = phone();
  const req = await otp.request(number);
  const { code } = await lastMessage(number);
  const ok = await otp.verify({ phone: number }, code);
  assert.equal(ok.requestId, req.requestId);
  assert.equal(ok.token.split(".").length, 3);
});

test("a wrong code is an OtpError with attemptsLeft", async () => {
  const number = phone();
  const req = await otp.request(number);
  const { code } = await lastMessage(number);
  const wrongCode = code.replace(/\d/g, (d) => String((Number(d) + 1) % 10));
  const err = await rejects(otp.verify(req.requestId, wrongCode));
  assert.equal(err.name, "OtpError");
  assert.equal(err.code, "invalid_code");
  assert.equal(err.status, 400);
  assert.equal(err.attemptsLeft, req.attemptsLeft - 1);
  assert.equal(typeof err.message, "string");
  assert.equal(err.details.code, "invalid_code");
});

test("bad input names the field", async () => {
  const err = await rejects(otp.request("12345"));
  assert.equal(err.code, "invalid_phone");
  assert.equal(err.field, "phone");
  const bad = await rejects(otp.verify("otp_not-a-real-request-id", "123456"));
  assert.ok(bad.status >= 400 && bad.status < 500, String(bad.status));
});

test("a second request inside the cooldown: rate_limited with retryAfter and reason", { skip: !SHORT_TTL && "OTP_SHORT_TTL_URL not set" }, async () => {
  // That worker keeps the default 30 s cooldown: a slow machine cannot outlast it.
  const slow = createClient({ baseUrl: SHORT_TTL });
  const number = phone();
  await slow.request(number);
  const err = await rejects(slow.request(number));
  assert.equal(err.code, "rate_limited");
  assert.equal(err.status, 429);
  assert.ok(err.retryAfter >= 1, String(err.retryAfter));
  assert.equal(err.reason, "resend_cooldown");
});

test("status (POST /v1/otp/status) carries the token only once verified", async () => {
  const number = phone();
  const req = await otp.request(number);
  const before = await otp.status(req.requestId);
  assert.equal(before.requestId, req.requestId);
  assert.equal(before.token, undefined);
  assert.ok(!FINAL_STATUSES.includes(before.status), before.status);
  const { code } = await lastMessage(number);
  await otp.verify(req.requestId, code);
  const after = await otp.status(req.requestId);
  assert.equal(after.status, "verified");
  assert.equal(after.verifiedVia, "code");
  assert.equal(after.token.split(".").length, 3);
  const unknown = await rejects(otp.status("otp_AAAAAAAAAAAAAAAAAAAAAA", { clientSecret: "cs_x" }));
  assert.equal(unknown.code, "not_found");
  assert.equal(unknown.status, 404);
});

test("the token needs the request's clientSecret, which request() keeps", async () => {
  const number = phone();
  const req = await otp.request(number);
  assert.match(req.clientSecret, /^cs_[A-Za-z0-9_-]{22,}$/);
  const { code } = await lastMessage(number);
  await otp.verify(req.requestId, code);
  // Another client knows only the request id (it is in logs and URLs): no token.
  const stranger = createClient({ baseUrl: WORKER });
  const missing = await rejects(stranger.status(req.requestId));
  assert.equal(missing.code, "invalid_request");
  assert.equal(missing.field, "client_secret");
  const wrong = await rejects(stranger.status(req.requestId, { clientSecret: "cs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }));
  assert.equal(wrong.code, "forbidden");
  assert.equal(wrong.status, 403);
  const given = await stranger.status(req.requestId, { clientSecret: req.clientSecret });
  assert.equal(given.token.split(".").length, 3);
});

test("waitForVerification resolves with the token when the user replies in WhatsApp", async () => {
  const number = phone();
  const req = await otp.request(number);
  const { code, id } = await lastMessage(number);
  const seen = [];
  const waiting = otp.waitForVerification(req.requestId, { interval: 200, onStatus: (s) => seen.push(s.status) });
  await sleep(300);
  await standin("/control/webhook/status", { message_id: id, status: "delivered" });
  for (let i = 0; i < 150 && !seen.includes("delivered"); i++) await sleep(100); // however slow the machine
  await standin("/control/webhook/reply", { from: number.slice(1), text: `my code is ${code}` });
  const done = await waiting;
  assert.equal(done.status, "verified");
  assert.equal(done.verifiedVia, "reply");
  assert.equal(done.token.split(".").length, 3);
  assert.ok(seen.includes("delivered"), `statuses seen: ${seen}`);
  assert.equal(seen.at(-1), "verified");
});

test("waitForVerification stops on a failed delivery", async () => {
  const number = phone();
  const req = await otp.request(number);
  const { id } = await lastMessage(number);
  const waiting = otp.waitForVerification(req.requestId, { interval: 200 });
  await standin("/control/webhook/status", { message_id: id, status: "failed", error_code: 131026 });
  const done = await waiting;
  assert.equal(done.status, "failed");
  assert.equal(done.delivery.status, "failed");
  assert.equal(done.delivery.errorCode, 131026);
});

test("waitForVerification stops when a newer code supersedes the request", async () => {
  const number = phone();
  const first = await otp.request(number);
  const waiting = otp.waitForVerification(first.requestId, { interval: 200 });
  await sleep(first.resendAfter * 1000 + 100);
  await otp.request(number);
  assert.equal((await waiting).status, "superseded");
});

test("waitForVerification stops when wrong codes lock the request", async () => {
  const number = phone();
  const req = await otp.request(number);
  const { code } = await lastMessage(number);
  const wrongCode = code.replace(/\d/g, (d) => String((Number(d) + 1) % 10));
  for (let i = 0; i < req.attemptsLeft; i++) await rejects(otp.verify(req.requestId, wrongCode));
  const done = await otp.waitForVerification(req.requestId, { interval: 200 });
  assert.equal(done.status, "locked");
});

test("waitForVerification stops when the code expires", { skip: !SHORT_TTL && "OTP_SHORT_TTL_URL not set" }, async () => {
  const short = createClient({ baseUrl: SHORT_TTL });
  const req = await short.request(phone());
  const started = Date.now();
  const done = await short.waitForVerification(req.requestId, { interval: 300 });
  assert.equal(done.status, "expired");
  assert.ok(Date.now() - started < 15000);
});

test("waitForVerification honours an AbortSignal", async () => {
  const req = await otp.request(phone());
  const controller = new AbortController();
  const waiting = otp.waitForVerification(req.requestId, { signal: controller.signal, interval: 500 });
  setTimeout(() => controller.abort(), 300);
  const started = Date.now();
  const err = await rejects(waiting);
  assert.equal(err.name, "AbortError");
  assert.ok(Date.now() - started < 2000);
  const already = await rejects(otp.waitForVerification(req.requestId, { signal: AbortSignal.abort() }));
  assert.equal(already.name, "AbortError");
});

test("inbound mode returns the code and the wa.me link", async () => {
  const req = await otp.request(phone(), { mode: "inbound" });
  assert.match(req.code, /^\d{6,10}$/);
  assert.match(req.waLink, /^https:\/\/wa\.me\/\d+\?text=/);
  assert.ok(decodeURIComponent(req.waLink).includes(req.code));
});

test("an unreachable service is a network_error with status 0", async () => {
  const nowhere = createClient({ baseUrl: "http://127.0.0.1:9" });
  const err = await rejects(nowhere.request(phone()));
  assert.equal(err.code, "network_error");
  assert.equal(err.status, 0);
});

const SMS = process.env.OTP_SMS_URL;
const SMS_STANDIN = process.env.OTP_SMS_STANDIN_URL;

test("waitForVerification reports a fallback to SMS, with the legs", { skip: !(SMS && SMS_STANDIN) && "OTP_SMS_URL not set" }, async () => {
  const sms = createClient({ baseUrl: SMS });
  const control = async (path, body) => {
    const res = await fetch(SMS_STANDIN + path, body && { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    assert.equal(res.status, 200, `${path}: ${res.status}`);
    return res.json();
  };
  const number = phone();
  // WhatsApp keeps the message at `sent`: the worker sends the same code by SMS after 1 s.
  await control("/control/whatsapp/delivery", { to: number.slice(1), outcome: "stay_sent" });
  const req = await sms.request(number);
  assert.equal(req.channel, "whatsapp");
  assert.equal(req.fallbackReason, undefined);
  const seen = [];
  const waiting = sms.waitForVerification(req.requestId, { interval: 200, onStatus: (s) => seen.push(s) });
  let text;
  for (let i = 0; i < 200 && !text; i++) {
    const { messages } = await control(`/control/inbox?to=${number.slice(1)}`);
    text = messages.find((m) => m.type === "sms");
    if (!text) await sleep(100);
  }
  assert.ok(text, "an SMS reached the number");
  for (let i = 0; i < 150 && !seen.some((s) => s.channel === "sms"); i++) await sleep(100);
  const fallback = seen.find((s) => s.channel === "sms");
  assert.ok(fallback, `statuses seen: ${JSON.stringify(seen.map((s) => [s.status, s.channel]))}`);
  assert.deepEqual(fallback.deliveries.map((d) => d.channel), ["whatsapp", "sms"]);
  assert.equal(fallback.deliveries[1].fallbackReason, "not_delivered_in_time");
  assert.equal(fallback.delivery.channel, "sms");
  await sms.verify(req.requestId, text.code);
  const done = await waiting;
  assert.equal(done.status, "verified");
  assert.equal(done.channel, "sms");
});
