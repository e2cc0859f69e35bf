// The reference page in a real headless Chromium, against the worker in workerd and
// the Cloud API stand-in. Every state is checked with axe-core (no serious or critical
// violation), for sideways scrolling and cut-off text, and saved as a screenshot.
//
// OTP_WORKER_URL: a worker with the page on (cooldown 2 s, countries 1 and 44);
// OTP_SHORT_TTL_URL: one whose codes live 2 s; OTP_STANDIN_URL: their stand-in;
// OTP_VIEWPORT: desktop, phone or both (default); SCREENSHOT_DIR.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Driver, KEY } from "./webdriver.js";

const WORKER = process.env.OTP_WORKER_URL;
const SHORT_TTL = process.env.OTP_SHORT_TTL_URL;
const STANDIN = process.env.OTP_STANDIN_URL;
if (!WORKER || !SHORT_TTL || !STANDIN) throw new Error("set OTP_WORKER_URL, OTP_SHORT_TTL_URL and OTP_STANDIN_URL");
const SHOTS = process.env.SCREENSHOT_DIR || fileURLToPath(new URL("../../target/screenshots/", import.meta.url));
const VIEWPORTS = {
  desktop: { width: 1280, height: 900 },
  phone: { width: 390, height: 844, mobile: true },
};
const chosen = (process.env.OTP_VIEWPORT || "desktop,phone").split(",");

const jsqrSource = readFile(fileURLToPath(new URL("node_modules/jsqr/dist/jsQR.js", import.meta.url)), "utf8");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const phone = () => `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;
const pretty = (number) => `${number.slice(0, 2)} ${number.slice(2, 5)} ${number.slice(5, 8)} ${number.slice(8)}`;

async function standin(path, body) {
  const res = await fetch(STANDIN + path, body && { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, `${path}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

async function templates(number, count = 1) {
  for (let i = 0; i < 150; i++) {
    const { messages } = await standin(`/control/inbox?to=${number.slice(1)}`);
    const sent = messages.filter((m) => m.type === "template");
    if (sent.length >= count) return sent;
    await sleep(100);
  }
  throw new Error(`fewer than ${count} messages reached ${number}`);
}

let driver;
before(async () => {
  driver = await Driver.start();
  await mkdir(SHOTS, { recursive: true });
});
after(() => driver?.stop());

/** The checks every state gets: axe-core, no sideways scroll, nothing past the right edge, a screenshot. */
async function check(page, name) {
  const file = `${SHOTS}/${page.viewport}-${name}.png`;
  await writeFile(file, await page.screenshot());
  const layout = await page.run(`
    const over = [...document.querySelectorAll("body *")].filter((el) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && (r.right > innerWidth + 1 || el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== "visible");
    }).map((el) => el.id || el.tagName);
    return { scrollWidth: document.documentElement.scrollWidth, innerWidth, over };`);
  assert.ok(layout.scrollWidth <= layout.innerWidth, `${name}: sideways scroll (${layout.scrollWidth} > ${layout.innerWidth})`);
  assert.deepEqual(layout.over, [], `${name}: elements cut off at the right edge`);
  assert.deepEqual(await page.axeViolations(), [], `${name}: axe-core violations`);
}

const text = (page, id) => page.run(`return document.getElementById(${JSON.stringify(id)}).textContent`);
const hasText = (id) => `document.getElementById(${JSON.stringify(id)}).textContent.trim() !== ""`;
const visible = (id) => `(document.getElementById(${JSON.stringify(id)})?.offsetParent !== null)`;
const statusSays = (page, pattern, what, timeout) =>
  page.waitFor(`/${pattern.source}/i.test(document.getElementById("status").textContent)`, what, timeout);

/** Opens the page and enters `number` with the keyboard only: Tab, type, Enter. */
async function enterPhone(page, number, base = WORKER) {
  await page.go(`${base}/`);
  await page.waitFor("document.readyState === 'complete' && !!document.getElementById('phone')", "the page");
  assert.equal(await page.run("return innerWidth"), VIEWPORTS[page.viewport].width);
  await page.keys(KEY.TAB);
  assert.equal(await page.run("return document.activeElement.id"), "phone", "Tab reaches the phone field first");
  await page.keys(number);
}

for (const viewport of chosen) {
  const size = VIEWPORTS[viewport];
  let page;
  const scenario = (name, fn) =>
    test(`${viewport}: ${name}`, async () => {
      page = Object.assign(await driver.session(size), { viewport });
      try {
        await fn(page);
      } finally {
        await page.quit();
      }
    });

  scenario("typed code, a wrong one first, keyboard only", async (page) => {
    const number = phone();
    await enterPhone(page, pretty(number));
    const fields = await page.run(`const p = document.getElementById("phone"), c = document.getElementById("code");
      return [p.type, p.autocomplete, c.autocomplete, c.inputMode, !!p.labels.length, !!c.labels.length];`);
    assert.deepEqual(fields, ["tel", "tel", "one-time-code", "numeric", true, true]);
    assert.match(await text(page, "phone-country"), /US or Canada \(\+1\)/);
    await check(page, "start");
    await page.keys(KEY.ENTER);
    await page.waitFor(visible("code-step"), "the code step");
    assert.equal(await page.run("return document.activeElement.id"), "code", "focus moves to the code field");
    await statusSays(page, /code sent/, "the live region");
    const [{ code }] = await templates(number);
    await check(page, "code-sent");

    const wrongCode = code.replace(/\d/g, (d) => String((Number(d) + 1) % 10));
    await page.keys(wrongCode + KEY.ENTER);
    await page.waitFor(hasText("code-error"), "the wrong-code message");
    assert.match(await text(page, "code-error"), /isn't right\. You can try 4 more times/);
    assert.equal(await page.run("return document.getElementById('code').getAttribute('aria-invalid')"), "true");
    await check(page, "wrong-code");

    await page.keys(code + KEY.ENTER); // the wrong code is selected, so typing replaces it
    await page.waitFor(visible("done"), "the verified state");
    assert.equal(await page.run("return document.activeElement.id"), "done-title");
    const token = await text(page, "token");
    const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url"));
    assert.equal(claims.sub, number);
    assert.equal(claims.verified_via, "code");
    await page.click("#copy");
    await statusSays(page, /copied|selected/, "the copy outcome");
    await check(page, "verified");
  });

  scenario("resend countdown, then the newest code", async (page) => {
    const number = phone();
    await enterPhone(page, number);
    // Every label the resend button shows, however slow the machine.
    await page.run(`const b = document.getElementById("resend"); window.labels = [];
      new MutationObserver(() => labels.push([b.disabled, b.textContent])).observe(b, { subtree: true, childList: true, characterData: true, attributes: true });`);
    await page.keys(KEY.ENTER);
    await page.waitFor(visible("code-step"), "the code step");
    await check(page, "countdown");
    const [{ code: oldCode }] = await templates(number);
    await page.waitFor("!document.getElementById('resend').disabled", "the end of the countdown", 6000);
    const labels = await page.run("return labels");
    assert.equal(labels[0][0], true, "resend is disabled during the cooldown");
    assert.match(labels[0][1], /^Send a new code \(in [12] s\)$/, "the countdown starts at resend_after");
    assert.ok(labels.some(([disabled, label]) => disabled && label.endsWith("(in 1 s)")), "the countdown ticks");
    assert.deepEqual(labels.at(-1), [false, "Send a new code"]);
    await page.click("#resend");
    const sent = await templates(number, 2);
    const newCode = sent[1].code;
    await page.waitFor("document.getElementById('resend').disabled", "a new countdown");
    await page.run("document.getElementById('code').focus()");
    await page.keys(oldCode + KEY.ENTER);
    await page.waitFor(hasText("code-error"), "the refusal of the older code");
    assert.match(await text(page, "code-error"), /isn't right/);
    await page.keys(newCode + KEY.ENTER);
    await page.waitFor(visible("done"), "the verified state");
  });

  scenario("reply in WhatsApp: delivery status, then the token by itself", async (page) => {
    const number = phone();
    await enterPhone(page, number);
    await page.keys(KEY.ENTER);
    await page.waitFor(visible("code-step"), "the code step");
    const [{ id, code }] = await templates(number);
    for (const status of ["sent", "delivered", "read"]) {
      await standin("/control/webhook/status", { message_id: id, status });
      await page.waitFor(`document.getElementById("delivery-text").textContent.includes(${JSON.stringify(status)})`, status, 15000);
    }
    await statusSays(page, /was read/, "the read status in the live region");
    assert.equal(await page.run("return document.querySelectorAll('#steps li.done').length"), 3);
    await check(page, "read");
    await standin("/control/webhook/reply", { from: number.slice(1), text: code });
    await page.waitFor(visible("done"), "verification by reply", 20000);
    const claims = JSON.parse(Buffer.from((await text(page, "token")).split(".")[1], "base64url"));
    assert.equal(claims.verified_via, "reply");
    await check(page, "verified-by-reply");
  });

  scenario("inbound: the wa.me link (and a QR code on desktops)", async (page) => {
    const number = phone();
    await enterPhone(page, number);
    await page.keys(KEY.TAB + KEY.DOWN); // to the radio group, then the second choice
    assert.equal(await page.run("return document.activeElement.value"), "inbound");
    await page.keys(KEY.TAB + KEY.ENTER); // the Continue button
    await page.waitFor(visible("inbound-step"), "the inbound step");
    const href = await page.run("return document.getElementById('wa-link').href");
    assert.match(href, /^https:\/\/wa\.me\/15550783881\?text=/);
    const message = await text(page, "prefilled");
    assert.equal(decodeURIComponent(new URL(href).search.slice(6)), message);
    assert.match(message, /\d{6}/);
    const qrShown = await page.run(`return ${visible("qr")}`);
    assert.equal(qrShown, viewport === "desktop", "QR code on desktops only");
    if (qrShown) {
      await page.run(await jsqrSource);
      const decoded = await page.run(`const c = document.getElementById("qr"), d = c.getContext("2d").getImageData(0, 0, c.width, c.height);
        return jsQR(d.data, c.width, c.height)?.data;`);
      assert.equal(decoded, href, "the QR code reads back as the link");
    }
    await check(page, "inbound");
    await standin("/control/webhook/reply", { from: number.slice(1), text: message });
    await page.waitFor(visible("done"), "verification by the inbound message", 20000);
    await check(page, "verified-inbound");
  });

  scenario("failed delivery: not on WhatsApp, then a failed status with what to do next", async (page) => {
    const number = phone();
    await standin("/control/fail", { to: number.slice(1), code: 131026 });
    await enterPhone(page, number);
    await page.keys(KEY.ENTER);
    await page.waitFor(hasText("phone-error"), "the not-on-WhatsApp message");
    assert.match(await text(page, "phone-error"), /doesn't seem to use WhatsApp/);
    await check(page, "not-on-whatsapp");

    await sleep(2100); // the failed send started the number's cooldown
    await page.run("document.getElementById('phone').focus()");
    await page.keys(KEY.ENTER);
    await page.waitFor(visible("code-step"), "the code step");
    const [{ id }] = await templates(number);
    await standin("/control/webhook/status", { message_id: id, status: "failed", error_code: 131047 });
    await statusSays(page, /couldn't deliver/, "the failure");
    assert.match(await text(page, "status"), /error 131047.*send us a message from your WhatsApp instead/);
    assert.equal(await page.run("return document.activeElement.id"), "switch-inbound", "focus on what to do next");
    await check(page, "delivery-failed");
    await page.keys(KEY.ENTER);
    await page.waitFor(visible("inbound-step"), "the inbound step after a failure");
    await check(page, "inbound-after-failure");
  });

  scenario("expired code", async (page) => {
    await enterPhone(page, phone(), SHORT_TTL);
    await page.keys(KEY.ENTER);
    await page.waitFor(visible("code-step"), "the code step");
    await statusSays(page, /expired/, "the expiry", 15000);
    await check(page, "expired");
    await page.keys("123456" + KEY.ENTER);
    await page.waitFor(hasText("code-error"), "the expired message");
    assert.match(await text(page, "code-error"), /expired/);
  });

  scenario("first tries: a double click, a short code, the expiry counted down, +999", async (page) => {
    const number = phone();
    await enterPhone(page, number);
    // Count the page's code requests, then click Continue twice in one go.
    // Whether Continue is disabled is read right after the first click, in the same
    // script: read later, a fast answer could already have enabled it again.
    const disabledDuringCall = await page.run(`window.requests = 0; const f = window.fetch;
      window.fetch = (...a) => { if (String(a[0].url || a[0]).includes("/v1/otp/request")) window.requests++; return f(...a); };
      const b = document.getElementById("send"); b.click(); const held = b.disabled; b.click(); return held;`);
    assert.equal(disabledDuringCall, true, "Continue waits for the call");
    await page.waitFor(visible("code-step"), "the code step");
    await templates(number);
    assert.equal(await page.run("return window.requests"), 1, "one click's worth of requests");
    const staleAlerts = `return [...document.querySelectorAll("[role=alert]")]
      .filter((el) => el.textContent.trim() && el.offsetParent === null).map((el) => el.id)`;
    assert.deepEqual(await page.run(staleAlerts), [], "no alert is left in a hidden step");
    assert.equal(await page.run("return document.getElementById('send').disabled"), false, "the controls are back");

    const shown = await text(page, "expiry");
    assert.match(shown, /The code expires in [45]:\d\d/, "the code's life is shown");
    await page.waitFor(`document.getElementById("expiry").textContent !== ${JSON.stringify(shown)}`, "the countdown", 5000);
    assert.match(await text(page, "expiry"), /The code expires in [45]:\d\d/);

    await page.run("document.getElementById('code').focus()");
    await page.keys("123" + KEY.ENTER);
    await page.waitFor(hasText("code-error"), "the short-code message");
    assert.match(await text(page, "code-error"), /too short: you typed 3 digits.*at least 6/);
    await check(page, "short-code");

    await page.click("[data-restart]");
    await page.run("const p = document.getElementById('phone'); p.value = ''; p.focus()");
    await page.keys("+999 1234 5678" + KEY.ENTER);
    await page.waitFor(hasText("phone-error"), "the +999 message");
    assert.match(await text(page, "phone-error"), /doesn't look like a complete phone number/, "+999 is no number, not a refused country");
    await check(page, "unassigned-country-code");
    assert.deepEqual(await page.run(staleAlerts), [], "no alert is left in a hidden step");
  });

  scenario("refusals explained: opted out, another country, an incomplete number", async (page) => {
    const number = phone();
    await standin("/control/webhook/reply", { from: number.slice(1), text: "STOP" });
    await enterPhone(page, number);
    await page.keys(KEY.ENTER);
    await page.waitFor(hasText("phone-error"), "the opted-out message");
    assert.match(await text(page, "phone-error"), /asked us not to send it messages.*START/);
    await check(page, "opted-out");

    await page.run("const p = document.getElementById('phone'); p.value = ''; p.focus()");
    await page.keys("+49 151 2345 6789" + KEY.ENTER);
    await page.waitFor(`/this country/.test(document.getElementById("phone-error").textContent)`, "the country message");
    await page.run("const p = document.getElementById('phone'); p.value = ''; p.focus()");
    await page.keys("555 0123" + KEY.ENTER);
    await page.waitFor(`/country code/.test(document.getElementById("phone-error").textContent)`, "the incomplete-number message");
    await check(page, "incomplete-number");

    // The advice given to the opted-out number works: it can still send us a message.
    await page.run(`document.getElementById("phone").value = ${JSON.stringify(number)};
      document.querySelector("input[value=inbound]").checked = true;`);
    await page.click("#send");
    await page.waitFor(visible("inbound-step"), "inbound mode for an opted-out number");
  });
}
