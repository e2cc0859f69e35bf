//! The OpenAPI document for code generators: every operation named once, in
//! lowerCamelCase; `HEAD` and `OPTIONS` stated once (`x-every-path`) rather than as
//! operations of each path, and the worker answering them as stated there; and
//! `openapi-typescript` making types from it that compile in strict mode.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{send, Env, Resp};
use crate::commands::{ok_or_show, run};
use crate::conformance::{conforms, document, Exchange};
use crate::harness::root;

e2e_tests! {
    openapi_operations_are_named_once_for_generators,
    openapi_head_and_options_answer_as_stated_once,
    openapi_typescript_types_compile,
    conformance_reads_head_and_options_by_the_stated_rule,
}

const OPERATION_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn is_lower_camel_case(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// What a generator would trip on: an operation without an `operationId`, one not in
/// lowerCamelCase, one used twice, a per-path `head`/`options` operation, or no
/// once-for-all rule for those two methods.
fn generator_problems(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut named: BTreeMap<String, String> = BTreeMap::new();
    for section in ["paths", "webhooks"] {
        for (path, item) in doc[section].as_object().into_iter().flatten() {
            for method in OPERATION_METHODS {
                let Some(operation) = item.get(method) else {
                    continue;
                };
                let at = format!("{section} {method} {path}");
                if method == "head" || method == "options" {
                    problems.push(format!("{at}: stated once in x-every-path, not per path"));
                }
                let Some(id) = operation["operationId"].as_str() else {
                    problems.push(format!("{at}: no operationId"));
                    continue;
                };
                if !is_lower_camel_case(id) {
                    problems.push(format!("{at}: operationId {id:?} is not lowerCamelCase"));
                }
                if let Some(first) = named.insert(id.to_string(), at.clone()) {
                    problems.push(format!("{at}: operationId {id:?} already names {first}"));
                }
            }
        }
    }
    for method in ["head", "options"] {
        if doc["x-every-path"][method]["description"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("x-every-path.{method}: no rule stated"));
        }
    }
    if doc["x-every-path"]["options"]["responses"]["204"].is_null() {
        problems.push("x-every-path.options: no 204 response".into());
    }
    problems
}

pub async fn openapi_operations_are_named_once_for_generators(_env: Arc<Env>) {
    let doc = document();
    let problems = generator_problems(&doc);
    assert!(problems.is_empty(), "openapi/openapi.json:\n  {}", problems.join("\n  "));
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| OPERATION_METHODS.iter().filter(|m| item.get(**m).is_some()).count())
        .sum();
    assert!(operations >= 20, "only {operations} operations: is the document whole?");

    // Each kind of problem is caught (the check above could not pass vacuously).
    let mut bad = doc.clone();
    bad["paths"]["/healthz"]["head"] = json!({ "operationId": "headHealth", "responses": {} });
    bad["paths"]["/v1/otp/verify"]["post"]["operationId"] = json!("requestCode");
    bad["paths"]["/v1/otp/status"]["post"]["operationId"] = json!("post_status");
    bad["paths"]["/openapi.json"]["get"].as_object_mut().unwrap().remove("operationId");
    bad.as_object_mut().unwrap().remove("x-every-path");
    let found = generator_problems(&bad).join("\n");
    for expected in [
        "paths head /healthz: stated once",
        "\"requestCode\" already names",
        "\"post_status\" is not lowerCamelCase",
        "paths get /openapi.json: no operationId",
        "x-every-path.head: no rule stated",
        "x-every-path.options: no rule stated",
    ] {
        assert!(found.contains(expected), "missed {expected:?} in:\n{found}");
    }
}

const ALLOWED_ORIGIN: &str = "http://localhost:5173";

/// The CORS headers of a preflight answer to an allowed origin, as the document states them.
const PREFLIGHT_HEADERS: [(&str, &str); 6] = [
    ("access-control-allow-origin", ALLOWED_ORIGIN),
    ("vary", "Origin"),
    ("access-control-allow-methods", "GET, POST, OPTIONS"),
    ("access-control-allow-headers", "Content-Type, Idempotency-Key"),
    ("access-control-max-age", "86400"),
    ("access-control-expose-headers", "Retry-After"),
];

/// A documented path with its templates filled in.
fn concrete(path: &str) -> String {
    path.replace("{request_id}", "otp_00000000000000000000aa").replace("{message_id}", "wamid.e2e-openapi")
}

async fn preflight(env: &Env, url: &str, origin: Option<&str>) -> Resp {
    let mut request = env.http.request(Method::OPTIONS, url).header("Access-Control-Request-Method", "POST");
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    send(request).await
}

fn cors_headers(resp: &Resp) -> Vec<String> {
    resp.headers.keys().map(|k| k.as_str().to_string()).filter(|k| k.starts_with("access-control-")).collect()
}

/// Every documented path, on a worker that allows one origin and on one whose settings
/// do not load, answers OPTIONS and HEAD as `x-every-path` says (and the conformance
/// check reads each answer against that rule).
pub async fn openapi_head_and_options_answer_as_stated_once(env: Arc<Env>) {
    let doc = document();
    let paths: Vec<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    for path in &paths {
        let url = format!("{}{}", env.main, concrete(path));
        let webhook = path.starts_with("/webhook");

        let allowed = preflight(&env, &url, Some(ALLOWED_ORIGIN)).await;
        assert_eq!(allowed.status, 204, "OPTIONS {path}: {}", allowed.text);
        assert!(allowed.text.is_empty(), "OPTIONS {path} has a body: {}", allowed.text);
        assert_eq!(allowed.header("cache-control"), Some("no-store"), "OPTIONS {path}");
        for (name, value) in PREFLIGHT_HEADERS {
            let expected = if webhook { None } else { Some(value) };
            assert_eq!(allowed.header(name), expected, "OPTIONS {path} from an allowed origin: {name}");
        }
        for origin in [Some("https://evil.example"), None] {
            let refused = preflight(&env, &url, origin).await;
            assert_eq!(refused.status, 204, "OPTIONS {path} from {origin:?}");
            assert!(cors_headers(&refused).is_empty(), "OPTIONS {path} from {origin:?}: {:?}", refused.headers);
            assert_eq!(refused.header("vary"), None, "OPTIONS {path} from {origin:?}");
        }
        // Settings that do not load: still 204, but no origin is allowed.
        let broken = preflight(&env, &format!("{}{}", env.broken, concrete(path)), Some(ALLOWED_ORIGIN)).await;
        assert_eq!(broken.status, 204, "OPTIONS {path} on a misconfigured worker");
        assert!(cors_headers(&broken).is_empty(), "OPTIONS {path} on a misconfigured worker: {:?}", broken.headers);

        // HEAD: GET's status and headers, no body.
        for base in [&env.main, &env.broken] {
            let url = format!("{base}{}", concrete(path));
            let get = send(env.http.get(&url).header("Origin", ALLOWED_ORIGIN)).await;
            let head = send(env.http.head(&url).header("Origin", ALLOWED_ORIGIN)).await;
            if doc["paths"][path].get("get").is_none() {
                // Whatever the settings: a worker whose settings do not load says 405 too.
                assert_eq!((get.status, get.code()), (405, "method_not_allowed"), "GET {url}: {}", get.text);
            }
            assert_eq!(head.status, get.status, "HEAD {url}");
            assert!(head.text.is_empty(), "HEAD {url} has a body: {}", head.text);
            for name in ["content-type", "cache-control", "allow", "access-control-allow-origin", "vary"] {
                assert_eq!(head.header(name), get.header(name), "HEAD {url}: {name}");
            }
        }
    }
    // An unknown path answers OPTIONS with the documented 404, CORS headers and all.
    let unknown = preflight(&env, &format!("{}/nope", env.main), Some(ALLOWED_ORIGIN)).await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"), "{}", unknown.text);
    for (name, value) in PREFLIGHT_HEADERS {
        assert_eq!(unknown.header(name), Some(value), "OPTIONS /nope from an allowed origin: {name}");
    }
}

/// The TypeScript a client author writes against the generated types: a typed request
/// body and its 202, the error shape, and no HEAD/OPTIONS methods.
const USES_THE_TYPES: &str = r#"import type { components, operations, paths } from "./api";

type RequestCode = paths["/v1/otp/request"]["post"];
type RequestBody = RequestCode["requestBody"]["content"]["application/json"];
type Accepted = RequestCode["responses"][202]["content"]["application/json"];
type Problem = components["schemas"]["Error"];
type VerifyBody = paths["/v1/otp/verify"]["post"]["requestBody"]["content"]["application/json"];
type Verified = operations["verifyCode"]["responses"][200]["content"]["application/json"];

export async function requestCode(baseUrl: string, phone: string): Promise<Accepted> {
  // Only the phone is required: `mode` and `channel` have defaults.
  const body: RequestBody = { phone, locale: "de-DE" };
  const resp = await fetch(`${baseUrl}/v1/otp/request`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (resp.status !== 202) {
    const problem = (await resp.json()) as Problem;
    const code: components["schemas"]["ErrorCode"] = problem.error.code;
    throw new Error(`${code}: ${problem.error.message}`);
  }
  return (await resp.json()) as Accepted;
}

export function followUp(accepted: Accepted): { id: string; secret: string; waitSeconds: number; pending: boolean } {
  const pending: boolean = accepted.status === "pending";
  return { id: accepted.request_id, secret: accepted.client_secret, waitSeconds: accepted.resend_after, pending };
}

// By the request id or by the phone, and the code.
export const byId = (accepted: Accepted, code: string): VerifyBody => ({ request_id: accepted.request_id, code });
export const byPhone = (phone: string, code: string): VerifyBody => ({ phone, code });

export function tokenOf(verified: Verified): string {
  return verified.token;
}

// HEAD and OPTIONS are not operations of each path, so a client gets no method for them.
type Absent<T> = [T] extends [undefined] ? true : false;
export const noHead: Absent<paths["/healthz"]["head"]> = true;
export const noPreflight: Absent<paths["/v1/otp/request"]["options"]> = true;
"#;

/// Misuses the compile must refuse: a number for the phone, a field the 202 lacks, a
/// verify body with neither the request id nor the phone.
const MISUSES_THE_TYPES: &str = r#"import type { paths } from "./api";

type RequestCode = paths["/v1/otp/request"]["post"];
export const body: RequestCode["requestBody"]["content"]["application/json"] = { phone: 15551234567 };
export function wrong(a: RequestCode["responses"][202]["content"]["application/json"]): string {
  return a.token;
}
export const verify: paths["/v1/otp/verify"]["post"]["requestBody"]["content"]["application/json"] = { code: "123456" };
"#;

async fn tsc(dir: &Path) -> Output {
    let mut tsc = Command::new(root().join("node_modules/.bin/tsc"));
    tsc.args(["-p", "tsconfig.json"]).current_dir(dir);
    run(tsc).await
}

/// `openapi-typescript` (pinned in package.json) turns openapi/openapi.json into types;
/// a client written against them compiles with `tsc --strict`, and a misuse does not.
pub async fn openapi_typescript_types_compile(env: Arc<Env>) {
    let dir = env.run_dir.join("openapi-typescript");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut generate = Command::new(root().join("node_modules/.bin/openapi-typescript"));
    generate
        .arg(root().join("openapi/openapi.json"))
        .args(["--default-non-nullable", "false", "-o"])
        .arg(dir.join("api.d.ts"))
        .env("NO_COLOR", "1")
        .current_dir(&dir);
    ok_or_show(&run(generate).await, "openapi-typescript");
    let types = std::fs::read_to_string(dir.join("api.d.ts")).expect("openapi-typescript wrote api.d.ts");
    for operation in ["requestCode: {", "verifyCode: {", "getStats: {", "twilioStatusCallback: {"] {
        assert!(types.contains(operation), "no {operation} in the generated types");
    }
    assert!(
        !types.contains("head: operations[") && !types.contains("options: operations["),
        "HEAD/OPTIONS operations were generated"
    );

    std::fs::write(
        dir.join("tsconfig.json"),
        r#"{"compilerOptions":{"strict":true,"noEmit":true,"module":"es2022","moduleResolution":"bundler","target":"es2022","lib":["es2022","dom"],"skipLibCheck":false},"files":["client.ts"]}"#,
    )
    .unwrap();
    std::fs::write(dir.join("client.ts"), USES_THE_TYPES).unwrap();
    ok_or_show(&tsc(&dir).await, "tsc --strict on a client using the generated types");

    std::fs::write(dir.join("client.ts"), MISUSES_THE_TYPES).unwrap();
    let out = tsc(&dir).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "tsc accepted a misuse of the generated types");
    // Line 8 is the verify body with neither the request id nor the phone.
    let refusals =
        ["Type 'number' is not assignable to type 'string'", "Property 'token' does not exist", "client.ts(8,"];
    for error in refusals {
        assert!(said.contains(error), "tsc did not say {error:?}:\n{said}");
    }
}

fn exchange(method: &str, path: &str, status: u16, headers: &[(&str, &str)], body: &str) -> Exchange {
    Exchange {
        method: Some(method.to_string()),
        url: format!("http://127.0.0.1:8787{path}"),
        status,
        content_type: headers.iter().find(|(n, _)| *n == "content-type").map(|(_, v)| v.to_string()),
        headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        body: body.to_string(),
    }
}

/// The conformance check holds HEAD and OPTIONS answers to `x-every-path`: it accepts
/// what the worker sends and refuses each kind of departure from the stated rule.
pub async fn conformance_reads_head_and_options_by_the_stated_rule(_env: Arc<Env>) {
    let doc = document();
    let json = ("content-type", "application/json; charset=utf-8");
    let mut preflight: Vec<(&str, &str)> = PREFLIGHT_HEADERS.to_vec();
    preflight.push(("cache-control", "no-store"));
    let fits = [
        exchange("OPTIONS", "/v1/otp/request", 204, &preflight, ""),
        exchange("OPTIONS", "/v1/admin/stats", 204, &[("cache-control", "no-store")], ""),
        exchange("HEAD", "/healthz", 200, &[json], ""),
        exchange("HEAD", "/openapi.json", 200, &[json, ("cache-control", "public, max-age=300")], ""),
        exchange("HEAD", "/v1/otp/request", 405, &[json, ("allow", "POST, OPTIONS")], ""),
        exchange("HEAD", "/v1/otp/status/otp_00000000000000000000aa", 429, &[json, ("retry-after", "30")], ""),
    ];
    for x in &fits {
        assert_eq!(conforms(&doc, x), Ok(()), "{} {}", x.method.as_deref().unwrap_or("?"), x.url);
    }
    let only_origin = [("access-control-allow-origin", ALLOWED_ORIGIN)];
    let long_max_age: Vec<(&str, &str)> = PREFLIGHT_HEADERS
        .iter()
        .map(|&(n, v)| if n == "access-control-max-age" { (n, "600") } else { (n, v) })
        .collect();
    let departures = [
        ("a preflight's CORS headers in part", exchange("OPTIONS", "/v1/otp/verify", 204, &only_origin, "")),
        ("a Max-Age other than stated", exchange("OPTIONS", "/v1/otp/verify", 204, &long_max_age, "")),
        ("a preflight that is not 204", exchange("OPTIONS", "/healthz", 200, &[json], "{}")),
        ("a preflight with a body", exchange("OPTIONS", "/healthz", 204, &[], "x")),
        ("a HEAD answer with a body", exchange("HEAD", "/healthz", 200, &[json], "{\"ok\":true}")),
        ("a HEAD status GET does not document", exchange("HEAD", "/openapi.json", 404, &[json], "")),
        (
            "a HEAD content type GET does not send",
            exchange("HEAD", "/healthz", 200, &[("content-type", "text/html")], ""),
        ),
        (
            "a HEAD header GET does not send",
            exchange("HEAD", "/openapi.json", 200, &[json, ("cache-control", "no-store")], ""),
        ),
        ("a HEAD 405 without JSON's type", exchange("HEAD", "/v1/otp/request", 405, &[], "")),
    ];
    for (what, x) in &departures {
        assert!(conforms(&doc, x).is_err(), "the conformance check let through {what}");
    }
}
