// whatsapp-otp-worker browser client: an ES module with no dependencies.
// Served by the worker at /client.js; the same file is the npm package.

/** Statuses after which a request never changes again. */
export const FINAL_STATUSES = Object.freeze(["verified", "expired", "locked", "superseded", "failed", "revoked"]);

/** An error answered by the worker (or a network failure, `code: "network_error"`). */
export class OtpError extends Error {
  constructor(code, message, { status = 0, retryAfter, attemptsLeft, reason, field, details } = {}) {
    super(message);
    this.name = "OtpError";
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
    this.attemptsLeft = attemptsLeft;
    this.reason = reason;
    this.field = field;
    this.details = details;
  }
}

const camel = (key) => key.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

function camelize(value) {
  if (Array.isArray(value)) return value.map(camelize);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [camel(k), camelize(v)]));
}

function errorFrom(status, body, headers) {
  const e = body && typeof body.error === "object" && body.error ? body.error : null;
  const header = Number(headers.get("Retry-After"));
  const retryAfter = e && Number.isFinite(e.retry_after) ? e.retry_after : header > 0 ? header : undefined;
  if (!e) return new OtpError("bad_response", `The service answered ${status} without an error body.`, { status, retryAfter });
  return new OtpError(e.code || "unknown_error", e.message || "The request failed.", {
    status,
    retryAfter,
    attemptsLeft: e.attempts_left,
    reason: e.reason,
    field: e.field,
    details: camelize(e),
  });
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(timer);
      reject(signal.reason);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function defaultBaseUrl() {
  try {
    const url = new URL(import.meta.url);
    return url.protocol === "http:" || url.protocol === "https:" ? url.origin : "";
  } catch {
    return "";
  }
}

/**
 * A client for one worker. `baseUrl` defaults to the origin this module was loaded
 * from (so `import … from "https://otp.example.com/client.js"` needs no setting).
 */
export function createClient({ baseUrl = defaultBaseUrl(), fetch: fetchImpl } = {}) {
  const root = String(baseUrl).replace(/\/+$/, "");
  // Each request's client secret, kept from its 202: the request id alone is no
  // secret (it appears in logs and URLs), so the token is only given with this.
  const clientSecrets = new Map();

  async function call(method, path, body, { signal, headers = {} } = {}) {
    const doFetch = fetchImpl || globalThis.fetch;
    let res;
    try {
      res = await doFetch(root + path, {
        method,
        signal,
        headers: body === undefined ? headers : { "Content-Type": "application/json", ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw new OtpError("network_error", "The service could not be reached.", { details: { cause: String(err) } });
    }
    let json = null;
    try {
      json = await res.json();
    } catch {
      json = null;
    }
    if (!res.ok) throw errorFrom(res.status, json, res.headers);
    if (json === null) throw new OtpError("bad_response", "The service answered without a JSON body.", { status: res.status });
    return camelize(json);
  }

  /** Asks for a code: `mode: "inbound"` returns `code` and `waLink` instead of sending. */
  function request(phone, { mode, locale, turnstileToken, idempotencyKey, signal } = {}) {
    const body = { phone };
    if (mode) body.mode = mode;
    if (locale) body.locale = locale;
    if (turnstileToken) body.turnstile_token = turnstileToken;
    const headers = idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {};
    return call("POST", "/v1/otp/request", body, { signal, headers }).then((accepted) => {
      if (accepted.clientSecret) clientSecrets.set(accepted.requestId, accepted.clientSecret);
      return accepted;
    });
  }

  /** Checks a typed code. `target` is a request id, or `{ phone }` for the number's live request. */
  function verify(target, code, { signal } = {}) {
    const body = typeof target === "object" && target ? { phone: target.phone, code } : { request_id: target, code };
    return call("POST", "/v1/otp/verify", body, { signal });
  }

  /**
   * The request's status; carries `token` and `tokenExpiresAt` once it is verified.
   * Sends the `clientSecret` given, or the one `request()` kept for this request id.
   */
  function status(requestId, { signal, clientSecret = clientSecrets.get(requestId) } = {}) {
    return call("POST", "/v1/otp/status", { request_id: requestId, client_secret: clientSecret }, { signal });
  }

  /**
   * Polls the status until it is final (verified, expired, locked, superseded, failed,
   * revoked) and resolves with that status (with the token when verified). Backs off from
   * `interval` to `maxInterval`, starts again fast when the status changes, honours
   * `retryAfter` on 429/503 and rejects with `signal.reason` when aborted.
   */
  async function waitForVerification(
    requestId,
    { signal, clientSecret, interval = 1000, maxInterval = 5000, onStatus } = {},
  ) {
    let delay = interval;
    let last = null;
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      let current;
      try {
        current = await status(requestId, clientSecret ? { signal, clientSecret } : { signal });
      } catch (err) {
        const transient = err instanceof OtpError && (err.status === 0 || err.status === 429 || err.status >= 500);
        if (!transient) throw err;
        await sleep(Math.max(delay, (err.retryAfter || 0) * 1000), signal);
        delay = Math.min(maxInterval, delay * 1.5);
        continue;
      }
      // A fallback to SMS is news even when the new leg's status reads like the old one.
      const key = `${current.status}/${current.channel || ""}/${current.delivery?.status || ""}`;
      if (key !== last) {
        last = key;
        delay = interval;
        onStatus?.(current);
      }
      if (FINAL_STATUSES.includes(current.status)) return current;
      await sleep(delay, signal);
      delay = Math.min(maxInterval, delay * 1.5);
    }
  }

  return { request, verify, status, waitForVerification };
}

const defaultClient = createClient();
export const { request, verify, status, waitForVerification } = defaultClient;
