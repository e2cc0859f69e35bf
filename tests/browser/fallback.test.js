// The reference page when WhatsApp does not deliver: in a real headless Chromium,
// against the `sms` worker (SMS fallback after 1 s) and its stand-in (Meta's and
// Twilio's side). The page says the code went by WhatsApp, then, while it polls
// the status, that the same code went by SMS; that code verifies; axe-core finds no
// serious or critical violation in the fallback state.
// OTP_SMS_URL, OTP_SMS_STANDIN_URL; OTP_VIEWPORT: desktop or phone; SCREENSHOT_DIR.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Driver, KEY } from "./webdriver.js";

const WORKER = process.env.OTP_SMS_URL;
const STANDIN = process.env.OTP_SMS_STANDIN_URL;
if (!WORKER || !STANDIN) throw new Error("set OTP_SMS_URL and OTP_SMS_STANDIN_URL");
const SHOTS = process.env.SCREENSHOT_DIR || fileURLToPath(new URL("../../target/screenshots/", import.meta.url));
const SIZES = { desktop: { width: 1280, height: 900 }, phone: { width: 390, height: 844, mobile: true } };
const viewport = process.env.OTP_VIEWPORT || "desktop";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const phone = () => `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;

async function standin(path, body) {
  const res = await fetch(STANDIN + path, body && { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, `${path}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

/** The messages that reached `number`, once at least one SMS is among them. */
async function withSms(number) {
  for (let i = 0; i < 200; i++) {
    const { messages } = await standin(`/control/inbox?to=${number.slice(1)}`);
    if (messages.some((m) => m.type === "sms")) return messages;
    await sleep(100);
  }
  throw new Error(`no SMS reached ${number}`);
}

let driver;
before(async () => {
  driver = await Driver.start();
  await mkdir(SHOTS, { recursive: true });
});
after(() => driver?.stop());

test(`${viewport}: WhatsApp does not deliver, the page says the code went by SMS`, async () => {
  const number = phone();
  // The stand-in keeps this number's WhatsApp message at `sent`: no delivery, so the
  // worker's alarm sends the same code by SMS.
  await standin("/control/whatsapp/delivery", { to: number.slice(1), outcome: "stay_sent" });
  const page = await driver.session(SIZES[viewport]);
  try {
    await page.go(`${WORKER}/`);
    await page.waitFor("document.readyState === 'complete' && !!document.getElementById('phone')", "the page");
    // Every text the channel line shows, however fast the fallback comes.
    await page.run(`const line = document.getElementById("channel-text"); window.channelTexts = [];
      new MutationObserver(() => channelTexts.push(line.textContent)).observe(line, { subtree: true, childList: true, characterData: true });`);
    await page.keys(KEY.TAB);
    await page.keys(number + KEY.ENTER);
    await page.waitFor("document.getElementById('code-step').offsetParent !== null", "the code step");
    await page.waitFor("document.getElementById('channel-text').dataset.channel === 'sms'", "the fallback on the page", 30000);
    assert.deepEqual(
      [...new Set(await page.run("return channelTexts"))],
      ["The code went by WhatsApp.", "WhatsApp did not deliver it; we sent the same code by SMS."],
      "WhatsApp first, then the fallback",
    );
    await page.waitFor(
      "/WhatsApp did not deliver it; we sent the same code by SMS/.test(document.getElementById('status').textContent) || /by SMS/.test(document.getElementById('delivery-text').textContent)",
      "the fallback announced",
    );
    assert.match(await page.run("return document.querySelector('label[for=code]').textContent"), /SMS/);
    await writeFile(`${SHOTS}/${viewport}-fallback.png`, await page.screenshot());
    const layout = await page.run("return { scrollWidth: document.documentElement.scrollWidth, innerWidth }");
    assert.ok(layout.scrollWidth <= layout.innerWidth, `sideways scroll (${layout.scrollWidth} > ${layout.innerWidth})`);
    assert.deepEqual(await page.axeViolations(), [], "axe-core violations");

    // The SMS carries the WhatsApp message's code; typed in, it verifies.
    const messages = await withSms(number);
    const sms = messages.find((m) => m.type === "sms");
    assert.equal(sms.code, messages.find((m) => m.type !== "sms").code, "one code on both channels");
    await page.run("document.getElementById('code').focus()");
    await page.keys(sms.code + KEY.ENTER);
    await page.waitFor("document.getElementById('done').offsetParent !== null", "the verified state");
  } finally {
    await page.quit();
  }
});
