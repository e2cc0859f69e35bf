export type Status =
  | "pending"
  | "sent"
  | "delivered"
  | "read"
  | "failed"
  | "verified"
  | "expired"
  | "locked"
  | "superseded"
  | "revoked";

export type FinalStatus = "verified" | "expired" | "locked" | "superseded" | "failed" | "revoked";

export declare const FINAL_STATUSES: readonly FinalStatus[];

/** Which way a code went. */
export type Channel = "whatsapp" | "sms";

/** Why the code went by SMS after WhatsApp. */
export type FallbackReason =
  | "not_on_whatsapp"
  | "whatsapp_unavailable"
  | "whatsapp_throttled"
  | "whatsapp_auth_failed"
  | "whatsapp_rejected"
  | "whatsapp_failed"
  | "not_delivered_in_time";

export interface RequestOptions {
  /** `"inbound"`: nothing is sent; the answer carries `code` and `waLink` for the user to send. */
  mode?: "outbound" | "inbound";
  /** Template language, like `"en_US"`. */
  locale?: string;
  turnstileToken?: string;
  /** Replays the first answer instead of sending again when a call is retried. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface RequestResult {
  requestId: string;
  /**
   * Proves this caller made the request: `status()` needs it for the token. The client
   * keeps it for `status()` and `waitForVerification()`; never log it or put it in a URL.
   */
  clientSecret: string;
  status: Status;
  expiresAt: string;
  expiresIn: number;
  /** Seconds until a new code may be requested for this number. */
  resendAfter: number;
  attemptsLeft: number;
  /** Inbound mode only: the code the user sends from WhatsApp. */
  code?: string;
  /** Inbound mode only: `https://wa.me/<business>?text=…` with the code prefilled. */
  waLink?: string;
  /** Set when the template was sent in another language than asked for. */
  locale?: string;
  /** Outbound requests: which way the code went. */
  channel?: Channel;
  /** Set when Meta refused the WhatsApp message and the code went by SMS at once. */
  fallbackReason?: FallbackReason;
}

export interface VerifyResult {
  verified: true;
  requestId: string;
  /** A signed JWT for your backend. */
  token: string;
  tokenExpiresAt: string;
}

export interface Delivery {
  status: string;
  errorCode?: number;
  pricingCategory?: string;
  updatedAt: string;
  /** The leg's channel. */
  channel?: Channel;
  /** On an SMS leg sent after WhatsApp: why. */
  fallbackReason?: FallbackReason;
}

export interface StatusResult {
  requestId: string;
  status: Status;
  expiresAt: string;
  resendAfter: number;
  attemptsLeft: number;
  /** The latest leg (the last of `deliveries`). */
  delivery?: Delivery;
  /** The latest leg's channel: `"sms"` once the code went by SMS. */
  channel?: Channel;
  /** Every leg of the request, WhatsApp first. */
  deliveries?: Delivery[];
  verifiedVia?: "code" | "reply" | "inbound";
  /** Present once `status` is `"verified"`. */
  token?: string;
  tokenExpiresAt?: string;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface StatusOptions extends CallOptions {
  /** The request's `clientSecret`; defaults to the one `request()` on this client returned. */
  clientSecret?: string;
}

export interface WaitOptions extends StatusOptions {
  /** First polling interval in ms (default 1000); it grows to `maxInterval` while nothing changes. */
  interval?: number;
  /** Longest polling interval in ms (default 5000). */
  maxInterval?: number;
  /** Called with each new status (a change of `status`, of `channel` or of `delivery.status`). */
  onStatus?: (status: StatusResult) => void;
}

export declare class OtpError extends Error {
  name: "OtpError";
  /** The contract's `error.code` (`invalid_code`, `rate_limited`, …), or `network_error` / `bad_response`. */
  code: string;
  /** HTTP status; 0 when the service could not be reached. */
  status: number;
  /** Seconds to wait before trying again (`retry_after` or `Retry-After`). */
  retryAfter?: number;
  /** Wrong tries left (`invalid_code`). */
  attemptsLeft?: number;
  /** Why a request was refused (`rate_limited`: `resend_cooldown`, `hourly_limit`, …). */
  reason?: string;
  /** The body field at fault (`invalid_request`, `invalid_phone`). */
  field?: string;
  /** Every field of the error body, camelCased. */
  details?: Record<string, unknown>;
  constructor(
    code: string,
    message: string,
    extra?: {
      status?: number;
      retryAfter?: number;
      attemptsLeft?: number;
      reason?: string;
      field?: string;
      details?: Record<string, unknown>;
    },
  );
}

export interface Client {
  request(phone: string, options?: RequestOptions): Promise<RequestResult>;
  verify(target: string | { phone: string }, code: string, options?: CallOptions): Promise<VerifyResult>;
  status(requestId: string, options?: StatusOptions): Promise<StatusResult>;
  /** Resolves with the first final status; rejects with `signal.reason` when aborted. */
  waitForVerification(requestId: string, options?: WaitOptions): Promise<StatusResult>;
}

export interface ClientOptions {
  /** The worker's origin, like `"https://otp.example.com"`. Defaults to the origin this module was loaded from. */
  baseUrl?: string;
  fetch?: typeof fetch;
}

export declare function createClient(options?: ClientOptions): Client;

export declare const request: Client["request"];
export declare const verify: Client["verify"];
export declare const status: Client["status"];
export declare const waitForVerification: Client["waitForVerification"];
