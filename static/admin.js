// The operator dashboard's script, served as /admin.js: the page's CSP allows
// scripts only from the worker's own origin, never inline.
"use strict";
const KEY = "otp-admin-token";
const META_ERRORS = {
  "131026": "Undeliverable: not on WhatsApp, or an old app version",
  "131047": "Outside the 24-hour window (text mode)",
  "131048": "Spam rate limit",
  "131049": "Meta chose not to deliver (ecosystem limit)",
  "131056": "Too many messages to this number",
  "131062": "Sent to a user id, not a phone number",
  "130429": "Throughput limit",
  "131000": "Something went wrong at Meta",
  "131016": "Service unavailable at Meta",
  "132001": "Template missing in that language",
  "132015": "Template paused",
  "132016": "Template disabled",
  "368": "Blocked for policy violations",
  "unknown": "No error code given",
};
const $ = (id) => document.getElementById(id);
const NS = "http://www.w3.org/2000/svg";
const el = (name, attrs = {}, text) => {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
};
const pct = (r) => (r * 100).toFixed(1).replace(/\.0$/, "") + " %";

// A token handed over in the fragment (#token=…) moves to sessionStorage at once.
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("token")) {
  sessionStorage.setItem(KEY, fragment.get("token"));
  history.replaceState(null, "", location.pathname + location.search);
}

async function api(path, method = "GET") {
  const response = await fetch(path, { method, headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY) } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error((body.error && body.error.message) || "HTTP " + response.status);
    error.status = response.status;
    throw error;
  }
  return body;
}

// Charts are drawn at the width they get, so their text stays readable on a phone.
const widthOf = (id) => Math.max(280, Math.min(900, $(id).clientWidth || 600));

/** A bar chart; `title` and the rows become its accessible name (screen readers get the numbers too). */
function bars(rows, { width = 600, label = 90, color = "var(--bar)", title = "Chart" } = {}) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  const summary = `${title}: ${rows.map((r) => `${r.label} ${r.value}`).join(", ")}`;
  const row = 24, svg = el("svg", { viewBox: `0 0 ${width} ${rows.length * row + 4}`, role: "img", "aria-label": summary });
  rows.forEach((r, i) => {
    const y = i * row + 2, w = Math.max(r.value ? 2 : 0, ((width - label - 80) * r.value) / max);
    const g = el("g", { "data-key": r.key });
    g.append(el("text", { x: 0, y: y + 16 }, r.label));
    g.append(el("rect", { x: label, y, width: w, height: row - 8, rx: 3, fill: r.color || color }));
    g.append(el("text", { x: label + w + 6, y: y + 16 }, r.note ? `${r.value} (${r.note})` : String(r.value)));
    svg.append(g);
  });
  return svg;
}

function funnel(s) {
  const steps = [
    ["requested", "Requested"], ["sent", "Sent"], ["delivered", "Delivered"],
    ["read", "Read"], ["verified", "Verified"],
  ];
  const rows = steps.map(([key, label]) => ({
    key, label, value: s[key],
    note: key === "requested" || !s.requested ? "" : pct(s[key] / s.requested),
    color: key === "verified" ? "var(--ok)" : undefined,
  }));
  rows.push({ key: "failed", label: "Failed", value: s.failed, color: "var(--bad)" });
  const box = $("funnel");
  box.replaceChildren(bars(rows, { width: widthOf("funnel"), title: "Funnel" }));
  for (const [key] of steps) box.dataset[key] = s[key];
  box.setAttribute("data-requested", s.requested);
}

function kpis(s) {
  const items = [
    [pct(s.conversion_rate), "conversion"], [s.requested, "requested"], [s.verified, "verified"],
    [s.seconds_to_verify.p50 ?? "–", "p50 seconds"], [s.seconds_to_verify.p95 ?? "–", "p95 seconds"],
    [s.expired, "expired"], [s.locked, "locked"], [s.opted_out, "opted out"],
    [s.verified_via.code, "verified by code"], [s.verified_via.reply, "by reply"], [s.verified_via.inbound, "by inbound"],
  ];
  for (const [category, n] of Object.entries(s.billable)) items.push([n, "billed " + category]);
  $("kpis").replaceChildren(...items.map(([value, label]) => {
    const div = document.createElement("div");
    div.className = "kpi";
    div.innerHTML = "<b></b><span></span>";
    div.firstChild.textContent = value;
    div.lastChild.textContent = label;
    return div;
  }));
}

function hourly(series) {
  const hours = series.hours, width = widthOf("hourly"), height = 180, pad = 28;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Requests and conversion per hour" });
  const max = Math.max(1, ...hours.map((h) => h.requested));
  const step = (width - pad * 2) / Math.max(1, hours.length);
  svg.append(el("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, stroke: "#b9c4cb" }));
  const points = [];
  hours.forEach((h, i) => {
    const x = pad + i * step, bh = ((height - pad * 2) * h.requested) / max;
    const bar = el("rect", { x: x + 1, y: height - pad - bh, width: Math.max(1, step - 2), height: bh, fill: "#c9d9ec" });
    bar.append(el("title", {}, `${h.hour}: ${h.requested} requested, ${h.verified} verified`));
    svg.append(bar);
    if (h.requested) points.push(`${x + step / 2},${height - pad - (height - pad * 2) * h.conversion_rate}`);
  });
  if (points.length) {
    svg.append(el("polyline", { points: points.join(" "), fill: "none", stroke: "var(--ok)", "stroke-width": 2 }));
    points.forEach((p) => { const [cx, cy] = p.split(","); svg.append(el("circle", { cx, cy, r: 3, fill: "var(--ok)" })); });
  }
  svg.append(el("text", { x: pad, y: 14 }, `bars: requests (max ${max}) · line: conversion 0–100 %`));
  svg.append(el("text", { x: pad, y: height - 8 }, hours.length ? hours[0].hour.slice(5, 13) + "h" : ""));
  svg.append(el("text", { x: width - pad, y: height - 8, "text-anchor": "end" }, hours.length ? hours[hours.length - 1].hour.slice(5, 13) + "h" : ""));
  $("hourly").replaceChildren(svg);
}

function failures(s) {
  const rows = Object.entries(s.failures).sort((a, b) => b[1] - a[1]);
  const box = $("failures");
  if (!rows.length) { box.innerHTML = '<p class="muted">No failed deliveries.</p>'; return; }
  const table = document.createElement("table");
  table.innerHTML = '<thead><tr><th>Code</th><th>Meaning</th><th class="n">Requests</th></tr></thead><tbody></tbody>';
  for (const [code, n] of rows) {
    const tr = table.tBodies[0].insertRow();
    tr.insertCell().textContent = code;
    tr.insertCell().textContent = META_ERRORS[code] || "See Meta's error code list";
    const cell = tr.insertCell(); cell.className = "n"; cell.textContent = n;
  }
  const chart = bars(rows.map(([code, n]) => ({ key: code, label: code, value: n, color: "var(--bad)" })), { width: widthOf("failures"), label: 60, title: "Failed deliveries by Meta error code" });
  box.replaceChildren(chart, table);
}

function countries(s) {
  const box = $("countries");
  if (!s.by_country.length) { box.innerHTML = '<p class="muted">No requests in this window.</p>'; return; }
  const table = document.createElement("table");
  table.innerHTML = '<thead><tr><th>Country</th><th class="n">Requested</th><th class="n">Verified</th><th class="n">Failed</th><th class="n">Rate</th></tr></thead><tbody></tbody>';
  for (const c of s.by_country) {
    const tr = table.tBodies[0].insertRow();
    tr.insertCell().textContent = "+" + c.country_code;
    for (const v of [c.requested, c.verified, c.failed, pct(c.conversion_rate)]) {
      const cell = tr.insertCell(); cell.className = "n"; cell.textContent = v;
    }
  }
  box.replaceChildren(table);
}

const CHANNELS = { whatsapp: "WhatsApp", sms: "SMS" };
const FALLBACK_REASONS = {
  not_on_whatsapp: "Not on WhatsApp (Meta refused the send)",
  whatsapp_unavailable: "WhatsApp unavailable at Meta",
  whatsapp_throttled: "Meta's rate limits",
  whatsapp_auth_failed: "Meta refused our credentials",
  whatsapp_rejected: "Meta rejected the message",
  whatsapp_failed: "Meta reported the message failed",
  not_delivered_in_time: "Not delivered within FALLBACK_AFTER_SECONDS",
};

function channels(s) {
  const table = document.createElement("table");
  table.innerHTML = '<thead><tr><th scope="col">Channel</th><th scope="col" class="n">Sent</th><th scope="col" class="n">Delivered</th><th scope="col" class="n">Verified</th></tr></thead><tbody></tbody>';
  // WhatsApp first, the channel every code tries first (JSON objects keep no order).
  const byChannel = s.by_channel || {};
  const order = [...Object.keys(CHANNELS), ...Object.keys(byChannel).filter((c) => !CHANNELS[c])];
  for (const [channel, c] of order.filter((c) => byChannel[c]).map((c) => [c, byChannel[c]])) {
    const tr = table.tBodies[0].insertRow();
    tr.dataset.channel = channel;
    const head = document.createElement("th");
    head.scope = "row";
    head.textContent = CHANNELS[channel] || channel;
    tr.append(head);
    for (const v of [c.sent, c.delivered, c.verified]) {
      const cell = tr.insertCell(); cell.className = "n"; cell.textContent = v;
    }
  }
  $("channels").replaceChildren(table);
}

/** A table of counts by key (a reason, a calling code), largest first, or `empty`
 *  when there are none; `label` names a key for people. */
function countTable(box, counts, heading, label, empty) {
  const rows = Object.entries(counts || {}).sort((a, b) => b[1] - a[1]);
  if (!rows.length) { box.innerHTML = `<p class="muted">${empty}</p>`; return; }
  const table = document.createElement("table");
  table.innerHTML = `<thead><tr><th scope="col">${heading}</th><th scope="col" class="n">Requests</th></tr></thead><tbody></tbody>`;
  for (const [key, n] of rows) {
    const tr = table.tBodies[0].insertRow();
    tr.dataset.key = key;
    tr.insertCell().textContent = label(key);
    const cell = tr.insertCell(); cell.className = "n"; cell.textContent = n;
  }
  box.replaceChildren(table);
}

function fallbacks(s) {
  countTable($("fallbacks"), s.fallbacks, "Reason", (r) => FALLBACK_REASONS[r] || r, "No code went by SMS after WhatsApp.");
}

const REFUSAL_REASONS = {
  resend_cooldown: "Asked again before the resend wait was over",
  hourly_limit: "The number's hourly limit",
  daily_limit: "The number's daily limit",
  ip_limit: "One address's hourly limit",
  too_many_failures: "The number is paused after too many wrong codes",
  not_me: "The owner answered NOT ME",
  country_not_allowed: "Country not allowed",
  captcha_failed: "Captcha failed or missing",
  opted_out: "The owner opted out (STOP)",
  daily_budget_exhausted: "The day's message budget was spent",
  invalid_phone: "Not a phone number",
};

function refused(s) {
  countTable($("refused"), s.refused, "Reason", (r) => REFUSAL_REASONS[r] || r, "No code request was refused.");
  countTable($("refused-countries"), s.refused_by_country, "Calling code", (c) => "+" + c, "No refused number had a country.");
}

function spend(s) {
  $("spend-section").hidden = !s.spend;
  if (!s.spend) return;
  const table = document.createElement("table");
  table.innerHTML = '<thead><tr><th>Category</th><th class="n">Messages</th><th class="n">Price</th><th class="n">Estimate</th></tr></thead><tbody></tbody><tfoot><tr><th>Total</th><td></td><td></td><td class="n"></td></tr></tfoot>';
  for (const [category, c] of Object.entries(s.spend.by_category)) {
    const tr = table.tBodies[0].insertRow();
    tr.insertCell().textContent = category;
    for (const v of [c.messages, c.price ?? "no price set", c.estimate ?? "–"]) {
      const cell = tr.insertCell(); cell.className = "n"; cell.textContent = v;
    }
  }
  table.tFoot.rows[0].cells[3].textContent = s.spend.total;
  $("spend").replaceChildren(table);
}

function deadLetters(body) {
  const box = $("dead-letters");
  const letters = body.dead_letters || [];
  if (!letters.length) { box.innerHTML = '<p class="muted">None: every callback was accepted.</p>'; return; }
  const table = document.createElement("table");
  table.innerHTML = '<thead><tr><th>Dead since</th><th>Event</th><th>Id</th><th>Action</th></tr></thead><tbody></tbody>';
  for (const letter of letters) {
    const tr = table.tBodies[0].insertRow();
    tr.dataset.messageId = letter.message_id;
    tr.insertCell().textContent = letter.dead_at;
    tr.insertCell().textContent = letter.type || "unreadable";
    tr.insertCell().textContent = letter.event_id || "–";
    const cell = tr.insertCell();
    if (letter.resent_at) { cell.textContent = "sent again " + letter.resent_at; continue; }
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Send again";
    button.setAttribute("aria-label", `Send ${letter.type || "event"} ${letter.event_id || ""} again`);
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const answer = await api(`/v1/admin/dead-letters/${encodeURIComponent(letter.message_id)}/resend`, "POST");
        cell.textContent = "sent again " + answer.resent_at;
        $("resend-status").textContent = `${letter.type || "The event"} ${letter.event_id || ""} is on its way again.`;
      } catch (e) {
        button.disabled = false;
        $("resend-status").textContent = "Could not send it again: " + e.message;
      }
    });
    cell.append(button);
  }
  box.replaceChildren(table);
}

async function load() {
  const hours = Number($("hours").value);
  const until = new Date(), since = new Date(until - hours * 3600e3);
  const query = `?since=${since.toISOString().slice(0, 19)}Z&until=${until.toISOString().slice(0, 19)}Z`;
  try {
    const [stats, series, dead] = await Promise.all([
      api("/v1/admin/stats" + query), api("/v1/admin/series" + query), api("/v1/admin/dead-letters"),
    ]);
    $("login").hidden = true;
    $("board").hidden = false;
    $("board-error").textContent = "";
    $("window").textContent = `${stats.since} – ${stats.until}`;
    kpis(stats); funnel(stats); hourly(series); failures(stats); countries(stats); channels(stats); fallbacks(stats); refused(stats); spend(stats); deadLetters(dead);
  } catch (e) {
    if (e.status === 401) {
      sessionStorage.removeItem(KEY);
      $("board").hidden = true;
      $("login").hidden = false;
      $("login-error").textContent = "That token was not accepted.";
    } else {
      $("board-error").textContent = "Could not load the numbers: " + e.message;
    }
  }
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("token").value.trim());
  $("token").value = "";
  load();
});
$("range").addEventListener("submit", (event) => { event.preventDefault(); load(); });
$("logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); location.reload(); });
if (sessionStorage.getItem(KEY)) load();
