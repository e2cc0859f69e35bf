// The operator dashboard in a real headless Chromium, with data (the analytics
// worker after the end-to-end funnel test): at 1280 and 390 px, axe-core finds no
// serious or critical violation, nothing scrolls sideways, the spend estimate and the
// refused requests by reason are shown, and the dead letters are listed with the
// resend done.
// OTP_ADMIN_URL, OTP_ADMIN_TOKEN; SCREENSHOT_DIR.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Driver } from "./webdriver.js";

const ADMIN = process.env.OTP_ADMIN_URL;
const TOKEN = process.env.OTP_ADMIN_TOKEN;
if (!ADMIN || !TOKEN) throw new Error("set OTP_ADMIN_URL and OTP_ADMIN_TOKEN");
const SHOTS = process.env.SCREENSHOT_DIR || fileURLToPath(new URL("../../target/screenshots/", import.meta.url));

let driver;
before(async () => {
  driver = await Driver.start();
  await mkdir(SHOTS, { recursive: true });
});
after(() => driver?.stop());

for (const [name, size] of [["desktop", { width: 1280, height: 900 }], ["phone", { width: 390, height: 844, mobile: true }]]) {
  test(`${name}: the dashboard with data is clean under axe-core`, async () => {
    const page = await driver.session(size);
    try {
      await page.go(`${ADMIN}/admin#token=${encodeURIComponent(TOKEN)}`);
      await page.waitFor("!document.getElementById('board').hidden && document.querySelector('#dead-letters table, #dead-letters p')", "the board with its data");
      const seen = await page.run(`return {
        funnel: !!document.querySelector('#funnel svg[role=img][aria-label^="Funnel: Requested"]'),
        failures: !!document.querySelector('#failures svg[aria-label]'),
        letters: [...document.querySelectorAll('#dead-letters tbody tr')].map((tr) => tr.textContent),
        channels: [...document.querySelectorAll('#channels tbody tr')].map((tr) => [tr.dataset.channel, tr.cells[0].textContent, tr.cells[1].textContent]),
        fallbacks: document.getElementById('fallbacks').textContent,
        spendShown: !document.getElementById('spend-section').hidden,
        spend: [...document.querySelectorAll('#spend tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent)),
        spendTotal: document.querySelector('#spend tfoot td:last-child')?.textContent,
        refused: Object.fromEntries([...document.querySelectorAll('#refused tbody tr')].map((tr) => [tr.dataset.key, [tr.cells[0].textContent, tr.cells[1].textContent]])),
        refusedCountries: Object.fromEntries([...document.querySelectorAll('#refused-countries tbody tr')].map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent])),
      }`);
      // The analytics worker sends no SMS: every code went by WhatsApp.
      assert.deepEqual(seen.channels.map(([c, name]) => [c, name]), [["whatsapp", "WhatsApp"], ["sms", "SMS"]], "the channel table");
      assert.ok(Number(seen.channels[0][2]) >= 1 && seen.channels[1][2] === "0", `sent per channel: ${JSON.stringify(seen.channels)}`);
      assert.match(seen.fallbacks, /No code went by SMS/);
      // MESSAGE_PRICES: the one billable message at its price, a priced category never billed at zero.
      assert.ok(seen.spendShown, "the spend estimate is shown");
      assert.deepEqual(seen.spend, [["authentication", "1", "0.0135", "0.0135"], ["authentication-international", "0", "0.0467", "0"]], "the spend table");
      assert.equal(seen.spendTotal, "0.0135", "the spend total");
      // The funnel test's refusals, each under its own words (the flood test beside it adds invalid_phone).
      assert.deepEqual(seen.refused.country_not_allowed, ["Country not allowed", "2"], `refused: ${JSON.stringify(seen.refused)}`);
      assert.deepEqual(seen.refused.resend_cooldown, ["Asked again before the resend wait was over", "1"], `refused: ${JSON.stringify(seen.refused)}`);
      assert.deepEqual(seen.refusedCountries, { "+1": "1", "+33": "1", "+49": "1" }, "refused by calling code");
      assert.ok(seen.funnel, "the funnel chart has a name with its numbers");
      assert.ok(seen.failures, "the failures chart has a name");
      assert.ok(seen.letters.length >= 1 && seen.letters.every((t) => /sent again|Send again/.test(t)), `dead letters: ${seen.letters}`);
      await writeFile(`${SHOTS}/${name}-admin.png`, await page.screenshot());
      const layout = await page.run("return { scrollWidth: document.documentElement.scrollWidth, innerWidth }");
      assert.ok(layout.scrollWidth <= layout.innerWidth, `sideways scroll (${layout.scrollWidth} > ${layout.innerWidth})`);
      assert.deepEqual(await page.axeViolations(), [], "axe-core violations");
    } finally {
      await page.quit();
    }
  });
}
