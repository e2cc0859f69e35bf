/** Why a token or a callback was refused. */
export declare class VerificationError extends Error {
  /** `malformed`, `algorithm`, `unknown_key`, `jwks_unavailable`, `signature`, `expired`, `issuer`, `audience`, `missing_headers`, `timestamp`. */
  code: string;
}

/** The claims of a token from the worker. */
export interface TokenClaims {
  iss: string;
  /** The verified phone number, E.164. */
  sub: string;
  aud?: string;
  iat: number;
  exp: number;
  /** The request id. */
  jti: string;
  amr: string[];
  verified_via: "code" | "reply" | "inbound";
  [claim: string]: unknown;
}

export interface VerifyTokenOptions {
  /** ES256: the worker's `/.well-known/jwks.json` (cached five minutes; refetched for an unknown `kid`). */
  jwksUrl?: string | URL;
  /** HS256: the worker's `TOKEN_SECRET`. */
  secret?: string;
  /** Default `"whatsapp-otp-worker"` (`TOKEN_ISSUER`). */
  issuer?: string;
  /** The worker's `TOKEN_AUDIENCE`; checked when given. */
  audience?: string;
  clockToleranceSeconds?: number;
  fetch?: typeof fetch;
  /** Milliseconds since the epoch (tests). */
  now?: number;
}

export declare function verifyToken(token: string, options: VerifyTokenOptions): Promise<TokenClaims>;

/** An event the worker delivered to `CALLBACK_URL`. */
export interface CallbackEvent {
  id: string;
  type: string;
  at: string;
  request_id?: string;
  country_code?: string;
  data: Record<string, unknown>;
}

export declare function verifyCallback(
  body: string,
  headers: Headers | Record<string, string | undefined>,
  secret: string,
  options?: { toleranceSeconds?: number; now?: number },
): Promise<CallbackEvent>;
