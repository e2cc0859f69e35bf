// The floor for ./bench: the round trips of each route and nothing else.
//
//   GET  /healthz                   no I/O
//   GET  /healthz?log=1             the same + one structured console.log line, as the real worker writes
//   POST /v1/otp/request            address allowance (DO) + number (DO) + KV put + Cloud API fetch
//   POST /v1/otp/request?settle=1   the same + settle (number DO) + message link (DO), in waitUntil
//   POST /v1/otp/verify             address allowance (DO) + KV get + number (DO)
//   GET  /v1/otp/status/{id}        address allowance (DO) + KV get + number (DO)
//
// Codes are stored in clear and nothing is signed: this is a floor, not a service.

const HOUR_MS = 3_600_000;
const JSON_HEADERS = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
};

function json(status, body) {
  return new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
}

async function guard(env, name, op, command) {
  const stub = env.FLOOR_GUARD.get(env.FLOOR_GUARD.idFromName(name));
  const response = await stub.fetch(`https://guard/${op}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(command),
  });
  if (response.status !== 200) throw new Error(`guard answered ${response.status}`);
  return response.json();
}

async function allowed(env, request, allowance) {
  const ip = request.headers.get("CF-Connecting-IP") ?? "unknown";
  const reply = await guard(env, `ip:${ip}`, "address_hit", { allowance, max_per_hour: 1_000_000 });
  return reply.allowed;
}

function randomHex(bytes) {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

async function otpRequest(request, env, ctx, settle) {
  const body = await request.json().catch(() => null);
  const phone = body?.phone;
  if (typeof phone !== "string" || !/^\+[1-9][0-9]{6,14}$/.test(phone)) {
    return json(400, { error: "invalid_request" });
  }
  if (!(await allowed(env, request, "requests"))) return json(429, { error: "rate_limited" });
  const requestId = randomHex(16);
  const reserve = await guard(env, phone, "reserve", { request_id: requestId });
  if (!reserve.ok) return json(429, { error: "rate_limited" });
  const code = String(crypto.getRandomValues(new Uint32Array(1))[0] % 1_000_000).padStart(6, "0");
  const now = Date.now();
  await env.OTP_CODES.put(`otp:${requestId}`, JSON.stringify({ phone, code, expires_ms: reserve.expires_ms }), {
    expirationTtl: 3900,
  });
  const sent = await fetch(`${env.WHATSAPP_API_BASE}/${env.WHATSAPP_API_VERSION}/${env.WHATSAPP_PHONE_NUMBER_ID}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${env.WHATSAPP_ACCESS_TOKEN}` },
    body: JSON.stringify({
      messaging_product: "whatsapp",
      recipient_type: "individual",
      to: phone.slice(1),
      type: "template",
      template: {
        name: "otp_code",
        language: { code: "en_US" },
        components: [
          { type: "body", parameters: [{ type: "text", text: code }] },
          { type: "button", sub_type: "url", index: "0", parameters: [{ type: "text", text: code }] },
        ],
      },
      biz_opaque_callback_data: requestId,
    }),
  });
  const answer = await sent.json();
  if (sent.status !== 200) return json(502, { error: "whatsapp_error" });
  const messageId = answer.messages?.[0]?.id ?? "";
  if (settle) {
    ctx.waitUntil(
      (async () => {
        await guard(env, phone, "settle", { request_id: requestId, message_id: messageId });
        await guard(env, `msg:${messageId}`, "link", { number: phone, request_id: requestId });
      })(),
    );
  }
  return json(202, {
    request_id: requestId,
    status: "pending",
    expires_at: new Date(reserve.expires_ms).toISOString(),
    expires_in: Math.ceil((reserve.expires_ms - now) / 1000),
    resend_after: 0,
    attempts_left: 5,
  });
}

async function otpVerify(request, env) {
  const body = await request.json().catch(() => null);
  if (typeof body?.request_id !== "string" || typeof body?.code !== "string") {
    return json(400, { error: "invalid_request" });
  }
  if (!(await allowed(env, request, "checks"))) return json(429, { error: "rate_limited" });
  const record = await env.OTP_CODES.get(`otp:${body.request_id}`, "json");
  if (!record) return json(404, { error: "not_found" });
  const reply = await guard(env, record.phone, "attempt", {
    request_id: body.request_id,
    correct: record.code === body.code,
  });
  if (!reply.verified) return json(400, { error: "invalid_code" });
  return json(200, { verified: true, request_id: body.request_id, token: "floor", token_expires_at: "" });
}

async function otpStatus(request, env, requestId) {
  if (!(await allowed(env, request, "checks"))) return json(429, { error: "rate_limited" });
  const record = await env.OTP_CODES.get(`otp:${requestId}`, "json");
  if (!record) return json(404, { error: "not_found" });
  const reply = await guard(env, record.phone, "status", { request_id: requestId });
  return json(200, { request_id: requestId, status: reply.status, expires_at: new Date(record.expires_ms).toISOString() });
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const path = url.pathname;
    if (path === "/healthz" && request.method === "GET") {
      if (url.searchParams.get("log") === "1") {
        const line = { route: "healthz", method: "GET", status: 200, outcome: "ok", request_id: null, phone: null, ms: 0 };
        console.log(JSON.stringify(line));
      }
      return json(200, { ok: true, version: "0.1.0" });
    }
    if (path === "/v1/otp/request" && request.method === "POST") {
      return otpRequest(request, env, ctx, url.searchParams.get("settle") === "1");
    }
    if (path === "/v1/otp/verify" && request.method === "POST") return otpVerify(request, env);
    if (path.startsWith("/v1/otp/status/") && request.method === "GET") {
      return otpStatus(request, env, path.slice("/v1/otp/status/".length));
    }
    return json(404, { error: "not_found" });
  },
};

// One object per number, address or message, like the real worker's guard: the state
// is read, changed and written back on every command.
export class FloorGuard {
  constructor(state) {
    this.storage = state.storage;
  }

  async fetch(request) {
    const op = new URL(request.url).pathname.slice(1);
    const command = await request.json();
    const now = Date.now();
    const state = (await this.storage.get("state")) ?? { hits: [], requests: [] };
    let reply;
    switch (op) {
      case "address_hit": {
        state.hits = state.hits.filter((t) => t + HOUR_MS > now);
        reply = { allowed: state.hits.length < command.max_per_hour };
        if (reply.allowed) state.hits.push(now);
        break;
      }
      case "reserve": {
        const expires_ms = now + 300_000;
        state.requests.push({ id: command.request_id, expires_ms, verified: false });
        if (state.requests.length > 20) state.requests.shift();
        reply = { ok: true, expires_ms };
        break;
      }
      case "settle": {
        const r = state.requests.find((x) => x.id === command.request_id);
        if (r) r.message_id = command.message_id;
        reply = { settled: !!r };
        break;
      }
      case "link": {
        state.link = command;
        reply = {};
        break;
      }
      case "attempt": {
        const r = state.requests.find((x) => x.id === command.request_id);
        const verified = !!r && !r.verified && command.correct && r.expires_ms > now;
        if (verified) r.verified = true;
        reply = { verified };
        break;
      }
      case "status": {
        const r = state.requests.find((x) => x.id === command.request_id);
        return Response.json({ status: r ? (r.verified ? "verified" : "pending") : "forgotten" });
      }
      default:
        return new Response("unknown command", { status: 404 });
    }
    await this.storage.put("state", state);
    return Response.json(reply);
  }
}
