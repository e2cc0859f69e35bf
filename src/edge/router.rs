//! Routes requests to handlers; it only routes. Every outcome, including a
//! failure inside a handler, leaves as the contract's JSON.

use worker::{Context, Env, Method, Request, Response, Result};

use super::clock::now_ms;
use super::handlers::{admin, assets, docs, health, request, twilio, verify, webhook};
use super::http::{apply_cors, header, to_response, Handled, Reply};
use super::isolate;
use super::log::RequestLog;
use crate::core::code::is_request_id;
use crate::core::config::AllowedOrigins;
use crate::core::error::ApiError;

enum Route {
    Health,
    Demo,
    Script(String),
    OtpRequest,
    OtpVerify,
    OtpStatus(String),
    OtpStatusWithToken,
    Webhook,
    TwilioWebhook,
    OpenApi,
    Jwks,
    AdminStats,
    AdminSeries,
    AdminDeadLetters,
    AdminResend(String),
    AdminPage,
    AdminScript,
}

impl Route {
    fn find(path: &str) -> Option<Route> {
        match path {
            "/healthz" => Some(Route::Health),
            "/" => Some(Route::Demo),
            "/client.js" | "/page.js" | "/qr.js" => Some(Route::Script(path.to_string())),
            "/v1/otp/request" => Some(Route::OtpRequest),
            "/v1/otp/verify" => Some(Route::OtpVerify),
            "/v1/otp/status" => Some(Route::OtpStatusWithToken),
            "/webhook" => Some(Route::Webhook),
            "/webhook/twilio" => Some(Route::TwilioWebhook),
            "/openapi.json" => Some(Route::OpenApi),
            "/.well-known/jwks.json" => Some(Route::Jwks),
            "/v1/admin/stats" => Some(Route::AdminStats),
            "/v1/admin/series" => Some(Route::AdminSeries),
            "/v1/admin/dead-letters" => Some(Route::AdminDeadLetters),
            "/admin" => Some(Route::AdminPage),
            "/admin.js" => Some(Route::AdminScript),
            _ => path.strip_prefix("/v1/otp/status/").map(|id| Route::OtpStatus(id.to_string())).or_else(|| {
                let id = path.strip_prefix("/v1/admin/dead-letters/")?.strip_suffix("/resend")?;
                Some(Route::AdminResend(id.to_string()))
            }),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Route::Health => "healthz",
            Route::Demo => "demo",
            Route::Script(_) => "script",
            Route::OtpRequest => "otp_request",
            Route::OtpVerify => "otp_verify",
            Route::OtpStatus(_) | Route::OtpStatusWithToken => "otp_status",
            Route::Webhook => "webhook",
            Route::TwilioWebhook => "webhook_twilio",
            Route::OpenApi => "openapi",
            Route::Jwks => "jwks",
            Route::AdminStats => "admin_stats",
            Route::AdminSeries => "admin_series",
            Route::AdminDeadLetters => "admin_dead_letters",
            Route::AdminResend(_) => "admin_resend",
            Route::AdminPage => "admin_page",
            Route::AdminScript => "admin_script",
        }
    }

    /// Every route answers `OPTIONS` (a preflight, `204`), so every `Allow` lists it.
    fn allow(&self) -> &'static str {
        match self {
            Route::Health
            | Route::Demo
            | Route::Script(_)
            | Route::OtpStatus(_)
            | Route::OpenApi
            | Route::Jwks
            | Route::AdminStats
            | Route::AdminSeries
            | Route::AdminDeadLetters
            | Route::AdminPage
            | Route::AdminScript => "GET, HEAD, OPTIONS",
            Route::OtpRequest
            | Route::OtpVerify
            | Route::OtpStatusWithToken
            | Route::AdminResend(_)
            | Route::TwilioWebhook => "POST, OPTIONS",
            Route::Webhook => "GET, HEAD, POST, OPTIONS",
        }
    }
}

/// The request's method as sent: `Request::method` turns every method it does not
/// know (`PROPFIND`, `FOO`) into `GET`, so unknown ones are told apart here. `HEAD`
/// is served as `GET` and loses its body on the way out.
fn method_of(req: &Request) -> (Method, &'static str, bool) {
    match req.inner().method().to_ascii_uppercase().as_str() {
        "GET" => (Method::Get, "GET", true),
        "HEAD" => (Method::Get, "HEAD", true),
        "POST" => (Method::Post, "POST", true),
        "OPTIONS" => (Method::Options, "OPTIONS", true),
        _ => (req.method(), "other", false),
    }
}

pub async fn handle(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    let (method, method_name, known_method) = method_of(&req);
    let path = req.path();
    let origin = header(&req, "Origin");
    let mut log = RequestLog::start(now_ms());
    let route = Route::find(&path);
    if let Some(route) = &route {
        log.route = route.name();
    }

    let settings = isolate::settings(&env);
    let config = &settings.config;
    let handled: Handled = match (&route, &method) {
        (None, _) => Err(ApiError::not_found("route")),
        (Some(route), _) if !known_method => Err(ApiError::method_not_allowed(route.allow())),
        (Some(_), Method::Options) => Ok(Reply::NoContent),
        // A method the route does not list is refused whatever the settings (as documented),
        // not answered `503 misconfigured` by a worker whose settings do not load.
        (Some(route), _) if !route.allow().split(',').any(|m| m.trim() == method_name) => {
            Err(ApiError::method_not_allowed(route.allow()))
        }
        (Some(Route::Health), Method::Get) => {
            let key_problem = match config {
                Ok(c) => super::tokens::key_problem(c).await,
                Err(_) => None,
            };
            let degraded = match config {
                Ok(_) => super::degraded::read_for_health(&env).await,
                Err(_) => None,
            };
            Ok(health::healthz(config, key_problem, &settings.features, degraded.as_ref()))
        }
        (Some(Route::OpenApi), Method::Get) => Ok(docs::openapi()),
        // The operator's routes need only their own settings, not a working OTP configuration.
        (Some(Route::AdminStats), Method::Get) => admin::stats(&req, &env).await,
        (Some(Route::AdminSeries), Method::Get) => admin::series(&req, &env).await,
        (Some(Route::AdminDeadLetters), Method::Get) => admin::dead_letters(&req, &env).await,
        (Some(Route::AdminResend(id)), Method::Post) => admin::resend_dead_letter(id, &req, &env).await,
        (Some(Route::AdminPage), Method::Get) => admin::dashboard(&env),
        (Some(Route::AdminScript), Method::Get) => admin::dashboard_script(&env),
        (Some(Route::Script(path)), Method::Get) => assets::script(path, config),
        (Some(route), _) => match config {
            Err(problems) => Err(ApiError::misconfigured(problems)),
            Ok(config) => match (route, method.clone()) {
                (Route::Demo, Method::Get) => assets::page(config),
                (Route::OtpRequest, Method::Post) => request::request(&mut req, &env, &ctx, config, &mut log).await,
                (Route::OtpVerify, Method::Post) => verify::verify(&mut req, &env, config, &mut log).await,
                (Route::OtpStatus(id), Method::Get) if is_request_id(id) => {
                    verify::status(id, &req, &env, config, &mut log).await
                }
                (Route::OtpStatusWithToken, Method::Post) => {
                    verify::status_with_token(&mut req, &env, config, &mut log).await
                }
                (Route::OtpStatus(_), Method::Get) => Err(ApiError::not_found("request")),
                (Route::Webhook, Method::Get) => webhook::handshake(&req, config),
                (Route::Jwks, Method::Get) => docs::jwks(config),
                (Route::Webhook, Method::Post) => webhook::deliver(&mut req, &env, &ctx, config, &mut log).await,
                (Route::TwilioWebhook, Method::Post) => twilio::status_callback(&mut req, &env, config, &mut log).await,
                (route, _) => Err(ApiError::method_not_allowed(route.allow())),
            },
        },
    };
    if let Err(e) = &handled {
        log.outcome = Some(e.code.as_str().to_string());
        // Which limit refused it (`rate_limited`), so refused traffic can be counted by reason.
        if let Some(reason) = e.extra.get("reason") {
            log.field("reason", reason.clone());
        }
        if matches!(route, Some(Route::OtpRequest)) {
            super::refusals::count(&env, &ctx, e, log.country_code.as_deref());
        }
    }
    let mut resp = to_response(handled)?;
    if !matches!(route, Some(Route::Webhook | Route::TwilioWebhook)) {
        let allowed = config.as_ref().map_or(AllowedOrigins::List(Vec::new()), |c| c.web.allowed_origins.clone());
        apply_cors(&mut resp, origin.as_deref(), &allowed, method == Method::Options)?;
    }
    // A healthy `/healthz` is polled by monitors all day: it leaves no log line (one
    // line per poll is noise, and writing it costs more CPU than the answer itself).
    // Every other answer, a failing health check included, is logged.
    if !(matches!(route, Some(Route::Health)) && resp.status_code() == 200) {
        log.emit(method_name, resp.status_code());
    }
    if method_name == "HEAD" {
        // Same status and headers as GET, no body.
        return Ok(Response::empty()?.with_status(resp.status_code()).with_headers(resp.headers().clone()));
    }
    Ok(resp)
}
