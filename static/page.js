// The reference page: phone number → code (typed or replied in WhatsApp) or a
// message sent from the user's WhatsApp → token. Built only on /client.js.
import { request, verify, waitForVerification, OtpError } from "/client.js";
import { drawQr } from "/qr.js";

const $ = (id) => document.getElementById(id);
const COUNTRIES = { 1: "the US or Canada", 7: "Russia or Kazakhstan", 20: "Egypt", 27: "South Africa", 31: "the Netherlands",
  33: "France", 34: "Spain", 39: "Italy", 44: "the United Kingdom", 49: "Germany", 52: "Mexico", 55: "Brazil", 61: "Australia",
  62: "Indonesia", 81: "Japan", 90: "Türkiye", 91: "India", 234: "Nigeria", 254: "Kenya", 351: "Portugal", 971: "the UAE" };

let current = null; // { requestId, clientSecret, phone, mode }
let watcher = null; // AbortController of the running waitForVerification
let countdown = null;
let expiry = null; // the interval counting the code's life down
let busy = false; // a call to the worker is running: the controls wait for it

/** While a call runs, nothing can be clicked twice: buttons are disabled, fields read-only
 *  (they keep focus), and the page is marked busy; `false` gives back what was taken. */
function working(on) {
  busy = on;
  document.querySelector("main").setAttribute("aria-busy", String(on));
  if (on) {
    working.held = [...document.querySelectorAll("main button:not(:disabled), main input[type=radio]:not(:disabled)")];
    for (const el of working.held) el.disabled = true;
    for (const el of document.querySelectorAll("main input:not([type=radio])")) el.readOnly = true;
  } else {
    for (const el of working.held || []) el.disabled = false;
    for (const el of document.querySelectorAll("main input:not([type=radio])")) el.readOnly = false;
    working.held = [];
  }
}

function say(text, problem = false) {
  $("status").textContent = text;
  $("status").classList.toggle("problem", problem);
}

function duration(seconds) {
  if (seconds < 90) return seconds === 1 ? "1 second" : `${seconds} seconds`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} minutes`;
  return `${Math.round(seconds / 3600)} hours`;
}

/** Every error the worker can answer, as a sentence for the person in front of the page. */
function explain(err) {
  const wait = err.retryAfter ? duration(err.retryAfter) : "a little while";
  switch (err.code) {
    case "invalid_phone":
      return "That doesn't look like a complete phone number. Start with + and the country code, like +44 7700 900123.";
    case "invalid_request":
      return err.field === "code" ? "Type the code from the WhatsApp message: its digits only." : "Please check what you typed and try again.";
    case "invalid_code":
      if (err.attemptsLeft === 0) return "That code isn't right, and that was the last try. Ask for a new code.";
      return err.attemptsLeft ? `That code isn't right. You can try ${err.attemptsLeft} more time${err.attemptsLeft === 1 ? "" : "s"}.` : "That code isn't right.";
    case "too_many_attempts":
      return `Too many wrong codes. You can ask for a new code in ${wait}.`;
    case "rate_limited":
      return {
        resend_cooldown: `A code was just sent. You can ask for another in ${wait}.`,
        hourly_limit: `Several codes were sent to this number in the last hour. Try again in ${wait}.`,
        daily_limit: `Too many codes were sent to this number today. Try again in ${wait}.`,
        ip_limit: `Too many requests came from your network. Try again in ${wait}.`,
        too_many_failures: `Too many wrong codes were typed for this number. Try again in ${wait}.`,
        not_me: `Someone answered "NOT ME" in WhatsApp for this number, so new codes are paused for ${wait}.`,
      }[err.reason] || `Please wait ${wait} before trying again.`;
    case "opted_out":
      return "This number asked us not to send it messages. To receive codes again, send START to us in WhatsApp, or choose to send us a message yourself.";
    case "country_not_allowed":
      return "We can't verify numbers from this country. Please use another number.";
    case "not_on_whatsapp":
      return "This number doesn't seem to use WhatsApp. Check the number, or use another one.";
    case "captcha_failed":
      return "The check that you're not a robot failed. Reload the page and try again.";
    case "expired":
      return err.retryAfter ? `This code has expired. You can ask for a new one in ${wait}.` : "This code has expired. Ask for a new one.";
    case "superseded":
      return "A newer code was sent to this number. Use the code in the newest message.";
    case "revoked":
      return "This verification was cancelled from WhatsApp. If it was you, start again.";
    case "already_verified":
      return "This number is already verified with this code.";
    case "not_found":
      return "This verification is no longer known. Please start again.";
    case "request_in_progress":
      return "Your code is still being sent. Wait a moment, then try again.";
    case "whatsapp_unavailable":
    case "whatsapp_throttled":
      return `WhatsApp isn't answering right now. Try again in ${wait}.`;
    case "network_error":
      return "We couldn't reach the server. Check your connection and try again.";
    default:
      return "Something went wrong on our side, so we can't verify numbers right now. Please try again later.";
  }
}

function fieldError(id, message) {
  $(id).textContent = message || ""; // an alert: read out as it appears
  const input = $(id === "phone-error" ? "phone" : "code");
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function show(section) {
  for (const id of ["phone-form", "code-step", "inbound-step", "done"]) $(id).hidden = id !== section;
  // An alert left in a hidden step would still be read out by some screen readers.
  if (section !== "phone-form") fieldError("phone-error", "");
  if (section !== "code-step") fieldError("code-error", "");
}

/** Accepts what people type (`0044 …`, `+44 (0) 7700 …`) and explains the country it sees. */
function tidy(raw) {
  return raw.trim().replace(/^00/, "+").replace(/\(0\)/, "");
}

$("phone").addEventListener("input", () => {
  const digits = tidy($("phone").value).replace(/[^\d+]/g, "");
  const code = [3, 2, 1].map((n) => digits.slice(1, 1 + n)).find((cc) => COUNTRIES[cc]);
  $("phone-country").textContent = !digits ? "" : !digits.startsWith("+")
    ? "Add + and your country code in front (for example +44 for the UK)."
    : code ? `Country: ${COUNTRIES[code]} (+${code}).` : "";
});

function startCountdown(seconds) {
  clearInterval(countdown);
  const button = $("resend");
  const end = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.ceil((end - Date.now()) / 1000);
    button.disabled = left > 0;
    button.textContent = left > 0 ? `Send a new code (in ${left} s)` : "Send a new code";
    if (left <= 0) clearInterval(countdown);
  };
  tick();
  countdown = setInterval(tick, 250);
}

const clock = (seconds) => `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;

/** Shows when the code expires and counts it down (quietly: the status region speaks once, at the end). */
function startExpiry(seconds) {
  clearInterval(expiry);
  const end = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
    $("expiry").textContent = left > 0 ? `The code expires in ${clock(left)} (at ${new Date(end).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}).` : "The code has expired.";
    if (left === 0) {
      clearInterval(expiry);
      if (!$("code-step").hidden) say("This code has expired. Ask for a new one.", true);
    }
  };
  tick();
  expiry = setInterval(tick, 1000);
}

const CHANNEL_NAMES = { whatsapp: "WhatsApp", sms: "SMS" };

/** Why the code went by SMS, as the person reads it. */
function fallbackText(reason) {
  switch (reason) {
    case "whatsapp_failed":
    case "not_delivered_in_time":
      return "WhatsApp did not deliver it; we sent the same code by SMS.";
    case "not_on_whatsapp":
      return "This number doesn't seem to use WhatsApp, so we sent the code by SMS.";
    default:
      return "WhatsApp could not take the message, so we sent the code by SMS.";
  }
}

/** Says which channel carried the code; `announce` reads a change out (a fallback while waiting). */
function showChannel(channel, reason, announce) {
  if (!current) return;
  current.channel = channel;
  const text = channel === "sms" ? fallbackText(reason) : "The code went by WhatsApp.";
  $("channel-text").textContent = text;
  $("channel-text").dataset.channel = channel;
  document.querySelector("label[for=code]").textContent = channel === "sms" ? "Code from the SMS or WhatsApp" : "Code from WhatsApp";
  if (announce) say(text);
}

function showDelivery(view) {
  // The status names the latest leg: a new channel means the code went again, by SMS.
  const channel = view.channel || view.delivery?.channel;
  const switched = !!channel && !!current?.channel && channel !== current.channel;
  if (switched) showChannel(channel, view.delivery?.fallbackReason, true);
  const by = CHANNEL_NAMES[current?.channel] || "WhatsApp";
  const order = ["sent", "delivered", "read"];
  const state = view.delivery?.status;
  const reached = order.indexOf(state);
  for (const li of $("steps").children) {
    li.classList.toggle("done", reached >= order.indexOf(li.dataset.step));
    li.classList.toggle("failed", state === "failed" && li.dataset.step === "sent");
    if (li.dataset.step === "sent") li.textContent = state === "failed" ? "Not delivered" : "Sent";
  }
  const text = { sent: `sent by ${by}.`, delivered: "delivered to the phone.", read: "read on the phone.", failed: "not delivered." }[state]
    || (state === "accepted" && by === "SMS" ? "on its way by SMS." : undefined);
  if (text && $("delivery-text").textContent !== text) {
    $("delivery-text").textContent = text;
    // The fallback's own sentence is the news of this status: not talked over.
    if (state !== "failed" && !switched) say(`Your ${by} message was ${text}`);
  }
}

function deliveryFailed(view) {
  const code = view.delivery?.errorCode;
  const why = code === 131026
    ? "WhatsApp couldn't deliver the code: this number may not be on WhatsApp, or its app is out of date."
    : `WhatsApp couldn't deliver the code${code ? ` (error ${code})` : ""}.`;
  say(`${why} You can send us a message from your WhatsApp instead, or use another number.`, true);
  $("next-steps").hidden = false;
  $("switch-inbound").focus();
}

function finish(token) {
  watcher?.abort();
  clearInterval(countdown);
  clearInterval(expiry);
  $("token").textContent = token;
  show("done");
  say("Your number is verified.");
  $("done-title").focus();
}

/** Waits for a reply in WhatsApp or an inbound message; the status then carries the token. */
/** `clientSecret` (from the 202, kept in memory only) is what the status needs for the token. */
async function watch(requestId, clientSecret) {
  watcher?.abort();
  const controller = (watcher = new AbortController());
  try {
    const options = { clientSecret, signal: controller.signal, onStatus: showDelivery };
    const view = await waitForVerification(requestId, options);
    if (controller.signal.aborted) return;
    if (view.status === "verified") return finish(view.token);
    if (view.status === "failed") return deliveryFailed(view);
    say(explain({ code: view.status === "locked" ? "too_many_attempts" : view.status, retryAfter: view.resendAfter }), true);
    if (view.resendAfter !== undefined) startCountdown(view.resendAfter);
  } catch (err) {
    if (!controller.signal.aborted) say(explain(err), true);
  }
}

async function send(mode) {
  if (busy) return;
  const phone = tidy($("phone").value);
  fieldError("phone-error", "");
  if (!/^\+[\d\s().-]{7,}$/.test(phone)) {
    fieldError("phone-error", explain({ code: "invalid_phone" }));
    return $("phone").focus();
  }
  say(mode === "inbound" ? "Preparing your message…" : "Sending the code…");
  working(true);
  try {
    const res = await request(phone, { mode });
    working(false);
    current = { requestId: res.requestId, clientSecret: res.clientSecret, phone, mode };
    $("next-steps").hidden = true;
    if (mode === "inbound") {
      $("inbound-to").textContent = phone;
      $("prefilled").textContent = new URL(res.waLink).searchParams.get("text") || "";
      $("wa-link").href = res.waLink;
      drawQr($("qr"), res.waLink);
      show("inbound-step");
      say("Waiting for your WhatsApp message…");
      $("inbound-title").focus();
    } else {
      $("sent-to").textContent = phone;
      const channel = res.channel || "whatsapp";
      showChannel(channel, res.fallbackReason, false);
      $("delivery-text").textContent = channel === "sms" ? "waiting for the SMS…" : "waiting for WhatsApp…";
      showDelivery({});
      fieldError("code-error", "");
      $("code").value = "";
      show("code-step");
      say(channel === "sms" ? `Code sent to ${phone}. ${fallbackText(res.fallbackReason)} Check your text messages.` : `Code sent to ${phone}. Check WhatsApp.`);
      startCountdown(res.resendAfter);
      startExpiry(res.expiresIn);
      $("code").focus();
    }
    watch(res.requestId, res.clientSecret);
  } catch (err) {
    working(false);
    if (!(err instanceof OtpError)) throw err;
    const message = explain(err);
    if (current && !$("code-step").hidden) {
      say(message, true);
      if (err.retryAfter) startCountdown(err.retryAfter);
      if (err.code === "not_on_whatsapp") $("next-steps").hidden = false;
    } else {
      fieldError("phone-error", message);
      say("");
      $("phone").focus();
    }
  }
}

$("phone-form").addEventListener("submit", (e) => {
  e.preventDefault();
  send(new FormData(e.target).get("mode"));
});

$("code-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (busy) return;
  const code = $("code").value.replace(/\D/g, "");
  if (!code) return fieldError("code-error", "Type the code from the WhatsApp message.");
  // Codes have 6 to 10 digits: a shorter one is a typing slip, not a wrong code (no try spent).
  if (code.length < 6) {
    fieldError("code-error", `That code is too short: you typed ${code.length} digit${code.length === 1 ? "" : "s"}, the code in the WhatsApp message has at least 6.`);
    return $("code").focus();
  }
  fieldError("code-error", "");
  say("Checking the code…");
  working(true);
  try {
    const res = await verify(current.requestId, code);
    working(false);
    finish(res.token);
  } catch (err) {
    working(false);
    if (!(err instanceof OtpError)) throw err;
    fieldError("code-error", explain(err));
    say("");
    if (err.retryAfter) startCountdown(err.retryAfter);
    $("code").select();
  }
});

$("resend").addEventListener("click", () => send(current.mode));
$("switch-inbound").addEventListener("click", () => send("inbound"));

for (const button of document.querySelectorAll("[data-restart]")) {
  button.addEventListener("click", () => {
    watcher?.abort();
    clearInterval(countdown);
    clearInterval(expiry);
    current = null;
    show("phone-form");
    say("");
    $("phone").focus();
  });
}

$("copy").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText($("token").textContent);
    say("Token copied.");
  } catch {
    getSelection().selectAllChildren($("token"));
    say("Copying isn't allowed here: the token is selected, press Ctrl+C (or ⌘C) to copy it.");
  }
});
