//! The running environment and the HTTP calls tests make against it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use std::sync::Arc;

use crate::conformance;
use crate::harness::{deliver_webhooks_to, free_port, run_dir, Service, StandIn, Worker};
use crate::receiver::Receiver;

/// Every service started, so teardown finds them even after a panic.
static SERVICES: Mutex<Vec<Service>> = Mutex::new(Vec::new());

pub fn stop_all() {
    let mut services = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    for service in services.iter_mut() {
        service.stop();
    }
    services.clear();
}

/// Every `client_secret` a 202 handed out, by request id: what a real client keeps
/// to collect its token from `POST /v1/otp/status`.
static CLIENT_SECRETS: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

/// The client secret the 202 for `request_id` carried (empty if none was seen).
pub fn client_secret_of(request_id: &str) -> String {
    CLIENT_SECRETS.lock().unwrap_or_else(|e| e.into_inner()).get(request_id).cloned().unwrap_or_default()
}

/// Every client secret seen so far (for the tests that look for leaks).
pub fn client_secrets_seen() -> Vec<String> {
    CLIENT_SECRETS.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
}

/// The process group of every service started for the run.
pub fn service_groups() -> Vec<u32> {
    SERVICES.lock().unwrap_or_else(|e| e.into_inner()).iter().map(Service::group).collect()
}

/// The main worker's test numbers (`tests_golive`): one per test that uses them (each
/// request supersedes the number's previous one), and one past its date.
pub const TEST_NUMBERS: &str = "+15550100001:135790:2099-01-01,+15550100002:246802:2020-01-01,\
    +15550100003:112233:2099-01-01,+15550100004:445566:2099-01-01,+15550100005:778899:2099-01-01,\
    +15550100006:990011:2099-01-01";

/// The template the `lifecycle` worker sends; the stand-in does not seed it.
pub const LIFECYCLE_TEMPLATE: &str = "otp_lifecycle";

/// A worker the run starts: only what it changes from the base, which is
/// `harness::Worker`'s defaults (every secret set, template `otp_code`, the worker's
/// own limits) or, with `like`, another profile.
pub struct Profile {
    /// Its folder under the run's, and `otp-e2e-NAME` to wrangler.
    pub name: &'static str,
    pub like: Option<&'static str>,
    /// `{standin}`, `{receiver}` and `{self}` stand for its stand-in's, the callback
    /// receiver's and its own addresses.
    pub vars: &'static [(&'static str, &'static str)],
    pub secrets: &'static [Secret],
    /// A stand-in of its own, so only its tests' traffic reaches it (the shared one
    /// delivers its webhooks to `main`).
    pub own_standin: bool,
    /// TOML tables (queues, D1) added to its configuration.
    pub bindings: &'static str,
}

const BASE: Profile = Profile { name: "", like: None, vars: &[], secrets: &[], own_standin: false, bindings: "" };

/// Every worker the run starts; [`Env`] has its URL under the same name (`_` for `-`).
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "main",
        vars: &[
            ("RESEND_COOLDOWN_SECONDS", "2"),
            ("IP_MAX_REQUESTS_PER_HOUR", "1000000"),
            // Brazil, Mexico and Argentina for the numbers WhatsApp spells its own way.
            ("ALLOWED_COUNTRY_CODES", "1,44,52,54,55"),
            ("ALLOWED_ORIGINS", "http://localhost:5173"),
            ("TOKEN_AUDIENCE", "e2e-backend"),
            ("IP_MAX_CHECKS_PER_HOUR", "1000000"),
            ("DEMO_PAGE", "true"),
        ],
        secrets: &[("TEST_NUMBERS", Some(TEST_NUMBERS))],
        ..BASE
    },
    // Its template exists only once `otpctl` creates it.
    Profile { name: "lifecycle", like: Some("main"), vars: &[("WHATSAPP_TEMPLATE_NAME", LIFECYCLE_TEMPLATE)], ..BASE },
    Profile {
        name: "short-ttl",
        vars: &[
            ("OTP_TTL_SECONDS", "2"),
            ("IP_MAX_REQUESTS_PER_HOUR", "1000000"),
            ("IP_MAX_CHECKS_PER_HOUR", "1000000"),
            ("DEMO_PAGE", "true"),
        ],
        ..BASE
    },
    Profile { name: "broken", secrets: &[("TOKEN_SECRET", None)], ..BASE },
    // Turnstile required (the stand-in checks it), text mode, no chat replies.
    Profile {
        name: "strict",
        vars: &[
            ("IP_MAX_REQUESTS_PER_HOUR", "3"),
            ("TURNSTILE_VERIFY_URL", "{standin}/turnstile/v0/siteverify"),
            ("WHATSAPP_MESSAGE_MODE", "text"),
            ("IP_MAX_CHECKS_PER_HOUR", "5"),
            ("CHAT_REPLIES", "false"),
        ],
        secrets: &[("TURNSTILE_SECRET_KEY", Some("e2e-turnstile-secret"))],
        ..BASE
    },
    Profile {
        name: "guarded",
        vars: &[
            ("MAX_SENDS_PER_DAY_GLOBAL", "3"),
            ("VERIFY_VIA", "code,reply"),
            ("SERVICE_NAME", "Acme Bank"),
            ("IP_MAX_REQUESTS_PER_HOUR", "1000000"),
        ],
        ..BASE
    },
    // Room for a hundred wrong codes.
    Profile {
        name: "lenient",
        vars: &[
            ("RESEND_COOLDOWN_SECONDS", "0"),
            ("OTP_MAX_ATTEMPTS", "10"),
            ("MAX_SENDS_PER_HOUR", "20"),
            ("MAX_SENDS_PER_DAY", "20"),
            ("IP_MAX_REQUESTS_PER_HOUR", "1000000"),
            // Wrong on purpose: named by /healthz, nothing else changes.
            ("ANALYTICS_RETENTION_DAYS", "90d"),
        ],
        ..BASE
    },
    // Events queue, D1 analytics (raw events kept 3 days), callbacks to the receiver
    // with 1 s retry delays.
    Profile {
        name: "analytics",
        vars: &[
            ("IP_MAX_REQUESTS_PER_HOUR", "1000000"),
            ("ALLOWED_COUNTRY_CODES", "1,44"),
            ("OTP_TTL_SECONDS", "10"),
            ("OTP_MAX_ATTEMPTS", "2"),
            ("CALLBACK_URL", "{receiver}"),
            ("CALLBACK_RETRY_DELAYS", "1,1,1,1,1,1"),
            // Short, so the retention test's events need be only days old.
            ("ANALYTICS_RETENTION_DAYS", "3"),
            ("MESSAGE_PRICES", "authentication:0.0135,authentication-international:0.0467"),
        ],
        secrets: &[("ADMIN_TOKEN", Some(ADMIN_TOKEN)), ("CALLBACK_SECRET", Some(CALLBACK_SECRET))],
        own_standin: true,
        bindings: ANALYTICS_BINDINGS,
        ..BASE
    },
    // SMS fallback through the stand-in's Twilio: the shortest allowed wait (1 s, codes
    // of 61 s), status callbacks to itself (`{self}`), WhatsApp statuses from its own
    // stand-in.
    Profile {
        name: "sms",
        vars: &[
            ("SMS_PROVIDER", "twilio"),
            ("TWILIO_ACCOUNT_SID", crate::tests_sms::TWILIO_ACCOUNT_SID),
            ("TWILIO_FROM", "+15005550006"),
            ("TWILIO_API_BASE", "{standin}"),
            ("PUBLIC_URL", "{self}"),
            ("SMS_COUNTRY_CODES", "1,44"),
            ("ALLOWED_COUNTRY_CODES", "1,44,49"),
            ("OTP_TTL_SECONDS", "61"),
            ("FALLBACK_AFTER_SECONDS", "1"),
            // The reference page, for the browser test of a fallback.
            ("DEMO_PAGE", "true"),
            ("RESEND_COOLDOWN_SECONDS", "0"),
            ("IP_MAX_REQUESTS_PER_HOUR", "1000000"),
            ("IP_MAX_CHECKS_PER_HOUR", "1000000"),
        ],
        secrets: &[
            ("TWILIO_AUTH_TOKEN", Some(crate::tests_sms::TWILIO_AUTH_TOKEN)),
            ("ADMIN_TOKEN", Some(ADMIN_TOKEN)),
        ],
        own_standin: true,
        // Its events reach its own D1, so the stats show the fallbacks.
        bindings: ANALYTICS_BINDINGS,
        ..BASE
    },
];

/// A secret's name and value (`None`: left out).
type Secret = (&'static str, Option<&'static str>);

impl Profile {
    fn named(name: &str) -> &'static Profile {
        PROFILES.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no worker profile {name:?}"))
    }

    /// Its settings over the base, `like`'s first, with this run's addresses in.
    fn settings(&self, standin: &str, receiver: &str, own: &str) -> (Vec<(&'static str, String)>, Vec<Secret>) {
        let (mut vars, mut secrets) = match self.like {
            Some(like) => Profile::named(like).settings(standin, receiver, own),
            None => (Vec::new(), Vec::new()),
        };
        vars.extend(self.vars.iter().map(|(k, v)| {
            (*k, v.replace("{standin}", standin).replace("{receiver}", receiver).replace("{self}", own))
        }));
        secrets.extend(self.secrets.iter().copied());
        (vars, secrets)
    }
}

/// The analytics worker's bindings: its queue (consumed by itself, short batches and
/// retries), the dead-letter queue, and D1.
pub const ANALYTICS_BINDINGS: &str = r#"
[[queues.producers]]
binding = "EVENTS"
queue = "otp-events"
[[queues.consumers]]
queue = "otp-events"
max_batch_size = 20
max_batch_timeout = 1
max_retries = 6
dead_letter_queue = "otp-events-dlq"
[[queues.consumers]]
queue = "otp-events-dlq"
max_batch_size = 20
max_batch_timeout = 1
max_retries = 2
[[d1_databases]]
binding = "ANALYTICS_DB"
database_name = "otp-analytics"
database_id = "e2e-analytics"
"#;

/// The running services, and where each answers.
pub struct Env {
    pub http: reqwest::Client,
    /// The stand-in every worker but `analytics` calls; it delivers webhooks to `main`.
    pub standin: String,
    // Where each worker of `PROFILES` answers (workerd itself).
    pub main: String,
    pub lifecycle: String,
    pub short_ttl: String,
    pub broken: String,
    pub strict: String,
    pub guarded: String,
    pub lenient: String,
    pub analytics: String,
    /// `analytics`' own stand-in.
    pub analytics_standin: String,
    pub sms: String,
    /// `sms`' own stand-in (its Twilio too).
    pub sms_standin: String,
    /// The customer's backend that `analytics` sends callbacks to.
    pub receiver: Arc<Receiver>,
    pub main_log: PathBuf,
    /// Where the main worker's local KV and Durable Objects persist.
    pub main_state: PathBuf,
    /// This run's folder: tests that start their own worker put it here.
    pub run_dir: PathBuf,
}

pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789";
pub const CALLBACK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Reads a response a test sent itself; recorded for the conformance check (with any
/// documented method: prefer [`send`], which knows the method).
pub async fn into_resp(response: reqwest::Response) -> Resp {
    read(None, response).await
}

/// Sends a request and reads the response; recorded for the conformance check.
pub async fn send(request: reqwest::RequestBuilder) -> Resp {
    let (client, request) = request.build_split();
    let request = request.expect("a valid request");
    let method = request.method().to_string();
    read(Some(method), client.execute(request).await.expect("HTTP request")).await
}

async fn read(method: Option<String>, response: reqwest::Response) -> Resp {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let url = response.url().to_string();
    let text = response.text().await.unwrap_or_default();
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    let recorded_headers = headers
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    conformance::record(conformance::Exchange {
        method,
        url,
        status,
        content_type,
        headers: recorded_headers,
        body: text.clone(),
    });
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if let (Some(id), Some(secret)) = (body["request_id"].as_str(), body["client_secret"].as_str()) {
        CLIENT_SECRETS.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), secret.to_string());
    }
    Resp { status, headers, body, text }
}

/// A fresh US number in the 555 range, unique to the calling test.
pub fn random_phone() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random");
    format!("+1555{:07}", u64::from_le_bytes(bytes) % 10_000_000)
}

/// A code of the same length that is certainly wrong (every digit shifted).
pub fn wrong(code: &str) -> String {
    code.chars().map(|c| char::from(b'0' + (c as u8 - b'0' + 1) % 10)).collect()
}

pub fn digits(phone: &str) -> String {
    phone.trim_start_matches('+').to_string()
}

impl Env {
    pub async fn start() -> Env {
        let dir = run_dir();
        // Everything that binds a port of the system's choosing (the receiver, the
        // stand-ins) binds it before the workers' ports are picked: a port picked and
        // released can be the next one the system hands out, and the receiver once got
        // `main`'s, so the harness's readiness poll for `main` landed among the callbacks.
        // The stand-ins learn their worker's address once it is up (below); until then
        // they point nowhere.
        let receiver = Receiver::start().await;
        let nowhere = "http://127.0.0.1:9/webhook";
        let shared = StandIn::start(&dir, nowhere);
        let api = shared.url.clone();
        SERVICES.lock().unwrap().push(shared.service);
        let mut own_standins: HashMap<&str, String> = HashMap::new();
        for profile in PROFILES.iter().filter(|p| p.own_standin) {
            let own_dir = dir.join(format!("{}-standin", profile.name));
            std::fs::create_dir_all(&own_dir).expect("stand-in dir");
            let own = StandIn::start(&own_dir, nowhere);
            own_standins.insert(profile.name, own.url.clone());
            SERVICES.lock().unwrap().push(own.service);
        }
        let ports: Vec<u16> = PROFILES.iter().map(|_| free_port()).collect();
        // Every worker boots at once; each is then driven on workerd directly, and the
        // stand-ins deliver their webhooks there too.
        let mut booting = Vec::new();
        for (profile, port) in PROFILES.iter().zip(&ports) {
            let standin = own_standins.get(profile.name).cloned().unwrap_or_else(|| api.clone());
            let (vars, secrets) = profile.settings(&standin, &receiver.url, &format!("http://127.0.0.1:{port}"));
            let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let worker = Worker::start_with(&dir, profile.name, *port, &standin, &vars, &secrets, profile.bindings);
            booting.push((profile, standin, worker));
        }
        // A fresh connection per request: a kept-alive connection that the dev server
        // closes while the machine is busy shows as `IncompleteMessage`, not an answer
        // (seen once on a loaded 2-core run). Loopback connections cost next to nothing.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let mut urls = HashMap::new();
        let mut standins = HashMap::new();
        for (profile, standin, worker) in booting {
            let worker = worker.ready(&http).await;
            if profile.own_standin || profile.name == "main" {
                deliver_webhooks_to(&http, &standin, &worker.url).await;
            }
            urls.insert(profile.name, worker.url.clone());
            standins.insert(profile.name, standin);
            SERVICES.lock().unwrap().push(worker.service);
        }
        let mut url = |name: &str| urls.remove(name).unwrap_or_else(|| panic!("no worker {name:?}"));
        Env {
            http,
            standin: api,
            main: url("main"),
            lifecycle: url("lifecycle"),
            short_ttl: url("short-ttl"),
            broken: url("broken"),
            strict: url("strict"),
            guarded: url("guarded"),
            lenient: url("lenient"),
            analytics: url("analytics"),
            analytics_standin: standins.remove("analytics").expect("analytics' stand-in"),
            sms: url("sms"),
            sms_standin: standins.remove("sms").expect("sms' stand-in"),
            receiver,
            main_log: dir.join("main/wrangler.log"),
            main_state: dir.join("main/state"),
            run_dir: dir.clone(),
        }
    }

    pub fn worker_count(&self) -> usize {
        PROFILES.len()
    }

    pub fn print_logs(&self) {
        for service in SERVICES.lock().unwrap().iter() {
            eprintln!("--- last lines of {} ({})\n{}", service.name, service.log.display(), service.log_tail(30));
        }
    }

    pub async fn get(&self, url: &str) -> Resp {
        send(self.http.get(url)).await
    }

    pub async fn post(&self, url: &str, body: &Value) -> Resp {
        send(self.http.post(url).json(body)).await
    }

    /// A POST from a given client address (`CF-Connecting-IP`, as Cloudflare sets it).
    pub async fn post_from(&self, address: &str, url: &str, body: &Value) -> Resp {
        let request = self.http.post(url).header("CF-Connecting-IP", address).json(body);
        into_resp(request.send().await.expect("POST")).await
    }

    pub async fn request(&self, base: &str, body: Value) -> Resp {
        self.post(&format!("{base}/v1/otp/request"), &body).await
    }

    pub async fn request_code(&self, phone: &str) -> Resp {
        self.request(&self.main, json!({ "phone": phone })).await
    }

    pub async fn verify(&self, base: &str, request_id: &str, code: &str) -> Resp {
        self.post(&format!("{base}/v1/otp/verify"), &json!({ "request_id": request_id, "code": code })).await
    }

    pub async fn status(&self, base: &str, request_id: &str) -> Resp {
        self.get(&format!("{base}/v1/otp/status/{request_id}")).await
    }

    /// `POST /v1/otp/status`: the status with the token once verified, with the
    /// client secret the request's 202 handed out.
    pub async fn status_with_token(&self, base: &str, request_id: &str) -> Resp {
        self.status_with_secret(base, request_id, Some(&client_secret_of(request_id))).await
    }

    /// `POST /v1/otp/status` with any client secret, or none.
    pub async fn status_with_secret(&self, base: &str, request_id: &str, secret: Option<&str>) -> Resp {
        let mut body = json!({ "request_id": request_id });
        if let Some(secret) = secret {
            body["client_secret"] = secret.into();
        }
        self.post(&format!("{base}/v1/otp/status"), &body).await
    }

    pub async fn inbox(&self, phone: &str) -> Vec<Value> {
        let resp = self.get(&format!("{}/control/inbox?to={}", self.standin, digits(phone))).await;
        resp.body["messages"].as_array().cloned().unwrap_or_default()
    }

    /// Waits for the `n`th message to `phone` (chat replies are sent in the background).
    pub async fn wait_for_messages(&self, phone: &str, n: usize) -> Vec<Value> {
        for _ in 0..100 {
            let messages = self.inbox(phone).await;
            if messages.len() >= n {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("fewer than {n} messages reached {phone}: {:?}", self.inbox(phone).await);
    }

    /// Meta's id for the first message sent to `phone`.
    pub async fn first_message_id(&self, phone: &str) -> String {
        self.wait_for_messages(phone, 1).await[0]["id"].as_str().expect("message id").to_string()
    }

    /// The code in the newest template sent to `phone`.
    pub async fn latest_code(&self, phone: &str) -> String {
        let messages = self.wait_for_messages(phone, 1).await;
        let last = messages.iter().rev().find(|m| m["type"] == "template").expect("a template message");
        last["code"].as_str().expect("code in the template").to_string()
    }

    /// Requests a code for `phone` on the main worker; returns (request_id, code).
    pub async fn issue(&self, phone: &str) -> (String, String) {
        let resp = self.request_code(phone).await;
        assert_eq!(resp.status, 202, "request failed: {}", resp.text);
        let id = resp.body["request_id"].as_str().unwrap().to_string();
        (id, self.latest_code(phone).await)
    }

    /// Waits out the main worker's 2 s cooldown and requests the next code for `phone`.
    pub async fn issue_again(&self, phone: &str) -> (String, String) {
        let sent = self.inbox(phone).await.len();
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let resp = self.request_code(phone).await;
        assert_eq!(resp.status, 202, "request after the cooldown failed: {}", resp.text);
        self.wait_for_messages(phone, sent + 1).await;
        (resp.body["request_id"].as_str().unwrap().to_string(), self.latest_code(phone).await)
    }

    pub async fn script_failure(&self, script: Value) {
        let resp = self.post(&format!("{}/control/fail", self.standin), &script).await;
        assert_eq!(resp.status, 200, "scripting the stand-in failed: {}", resp.text);
    }

    /// The stand-in posts a signed text message from `phone` to the worker.
    pub async fn reply(&self, phone: &str, text: &str) -> Value {
        let body = json!({ "from": digits(phone), "text": text });
        self.post(&format!("{}/control/webhook/reply", self.standin), &body).await.body
    }

    pub async fn send_status(
        &self,
        message_id: &str,
        phone: &str,
        status: &str,
        request_id: Option<&str>,
        error_code: Option<i64>,
    ) -> Value {
        let mut body = json!({ "message_id": message_id, "recipient_id": digits(phone), "status": status });
        if let Some(id) = request_id {
            body["biz_opaque_callback_data"] = id.into();
        }
        if let Some(code) = error_code {
            body["error_code"] = code.into();
        }
        self.post(&format!("{}/control/webhook/status", self.standin), &body).await.body
    }

    pub async fn raw_delivery(&self, payload: Value, signature: &str) -> Value {
        let body = json!({ "payload": payload, "signature": signature });
        self.post(&format!("{}/control/webhook/raw", self.standin), &body).await.body
    }
}

/// Checks a token the way a customer's backend would: an independent JWT library.
pub fn decode_token(token: &str) -> Value {
    use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["e2e-backend"]);
    validation.set_issuer(&["whatsapp-otp-worker"]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let key = DecodingKey::from_secret(crate::harness::TOKEN_SECRET.as_bytes());
    decode::<Value>(token, &key, &validation).unwrap_or_else(|e| panic!("token rejected: {e}")).claims
}
