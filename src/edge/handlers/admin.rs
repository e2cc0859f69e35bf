//! The operator's view: `GET /v1/admin/stats`, `/v1/admin/series`,
//! `/v1/admin/dead-letters`, `POST /v1/admin/dead-letters/{message_id}/resend`
//! (bearer `ADMIN_TOKEN`) and the `/admin` dashboard.
//! Absent `ADMIN_TOKEN` or D1 binding, none of them exists (404).

use serde::de::DeserializeOwned;
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1Result, Env, QueueContentType, RawMessageBuilder, Request};

use crate::core::error::ApiError;
use crate::core::events::admin::bearer_matches;
use crate::core::events::analytics::{
    parse_window, shape_series, shape_stats, ChannelCount, CountryRow, DeadLetter, HourRow, KeyCount, Param,
    Percentiles, StatsRows, Window, LIST_DEAD_LETTERS, SERIES_QUERY, STATS_QUERIES,
};
use crate::core::events::resend::{
    answer, claim_params, decide, is_message_id, shape_with_resends, LetterRow, Resend, ResendRow, CLAIM, FIND,
    LIST_RESENDS, RELEASE,
};
use crate::core::events::spend::estimate;
use crate::edge::analytics::batch;
use crate::edge::http::{header, Handled, Reply};
use crate::edge::isolate::{settings, DB_BINDING, QUEUE_BINDING};

/// The database, once the caller has shown the admin token.
fn authorize(req: &Request, env: &Env) -> Result<D1Database, ApiError> {
    let isolate = settings(env);
    let settings = &isolate.events;
    let (Some(token), Ok(db)) = (settings.admin_token.as_ref().map(|t| t.expose()), env.d1(DB_BINDING)) else {
        return Err(ApiError::not_found("route"));
    };
    if !bearer_matches(header(req, "Authorization").as_deref(), token) {
        return Err(ApiError::unauthorized());
    }
    Ok(db)
}

fn query_window(req: &Request) -> Result<Window, ApiError> {
    // The raw URL's query, read without the `url` crate (its IDNA tables would
    // weigh on the wasm).
    let url = req.inner().url();
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let param = |name: &str| form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v);
    parse_window(param("since").as_deref(), param("until").as_deref(), crate::edge::clock::now_ms()).map_err(|wrong| {
        ApiError::invalid_request(
            wrong.field(),
            "since and until are RFC 3339 times (2026-01-31T00:00:00Z), since before until.",
        )
    })
}

fn unavailable(e: worker::Error) -> ApiError {
    worker::console_error!("analytics query failed: {e}");
    ApiError::analytics_unavailable()
}

fn rows<T: DeserializeOwned>(result: Option<&D1Result>) -> Result<Vec<T>, ApiError> {
    let result = result.ok_or_else(|| unavailable(worker::Error::RustError("missing result".into())))?;
    result.results::<T>().map_err(unavailable)
}

fn window_params(w: Window) -> Vec<Param> {
    vec![Param::Int(w.since_ms as i64), Param::Int(w.until_ms as i64)]
}

pub async fn stats(req: &Request, env: &Env) -> Handled {
    let db = authorize(req, env)?;
    let window = query_window(req)?;
    let statements: Vec<(&str, Vec<Param>)> = STATS_QUERIES.iter().map(|q| (*q, window_params(window))).collect();
    let results = batch(&db, &statements).await.map_err(unavailable)?;
    let stats = StatsRows {
        by_type: rows::<KeyCount>(results.first())?,
        by_via: rows::<KeyCount>(results.get(1))?,
        failures: rows::<KeyCount>(results.get(2))?,
        percentiles: rows::<Percentiles>(results.get(3))?.into_iter().next().unwrap_or_default(),
        countries: rows::<CountryRow>(results.get(4))?,
        billable: rows::<KeyCount>(results.get(5))?,
        by_channel: rows::<ChannelCount>(results.get(6))?,
        fallbacks: rows::<KeyCount>(results.get(7))?,
        refused: rows::<KeyCount>(results.get(8))?,
        refused_by_country: rows::<KeyCount>(results.get(9))?,
    };
    let mut body = shape_stats(window, &stats);
    let prices = &settings(env).events.message_prices;
    if !prices.is_empty() {
        body["spend"] = estimate(&body["billable"], prices);
    }
    Ok(Reply::Json(200, body))
}

pub async fn series(req: &Request, env: &Env) -> Handled {
    let db = authorize(req, env)?;
    let window = query_window(req)?;
    let results = batch(&db, &[(SERIES_QUERY, window_params(window))]).await.map_err(unavailable)?;
    Ok(Reply::Json(200, shape_series(window, &rows::<HourRow>(results.first())?)))
}

pub async fn dead_letters(req: &Request, env: &Env) -> Handled {
    let db = authorize(req, env)?;
    let results =
        batch(&db, &[(LIST_DEAD_LETTERS, Vec::new()), (LIST_RESENDS, Vec::new())]).await.map_err(unavailable)?;
    let letters = rows::<DeadLetter>(results.first())?;
    Ok(Reply::Json(200, shape_with_resends(&letters, &rows::<ResendRow>(results.get(1))?)))
}

/// `POST /v1/admin/dead-letters/{message_id}/resend`: the letter's event back on the
/// events queue, once (`core::events::resend`).
pub async fn resend_dead_letter(message_id: &str, req: &Request, env: &Env) -> Handled {
    let db = authorize(req, env)?;
    if !is_message_id(message_id) {
        return Err(ApiError::not_found("dead letter"));
    }
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|_| ApiError::internal())?;
    let claim = hex::encode(random);
    let id = Param::Text(message_id.to_string());
    let now = crate::edge::clock::now_ms();
    let statements = [(CLAIM, claim_params(message_id, now, &claim)), (FIND, vec![id.clone()])];
    let results = batch(&db, &statements).await.map_err(unavailable)?;
    let found = rows::<LetterRow>(results.get(1))?.into_iter().next();
    let body = match decide(found.as_ref(), &claim) {
        Resend::Unknown => return Err(ApiError::not_found("dead letter")),
        Resend::Done => None,
        Resend::Queue { body } => Some(body),
    };
    let Some(letter) = found else { return Err(ApiError::not_found("dead letter")) };
    if let Some(body) = body {
        let message = RawMessageBuilder::new(JsValue::from_str(&body)).build_with_content_type(QueueContentType::Text);
        let queued = match env.queue(QUEUE_BINDING) {
            Ok(queue) => queue.send_raw_batch(vec![message]).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = queued {
            // Give the claim back, so the next call can try again.
            let _ = batch(&db, &[(RELEASE, vec![id, Param::Text(claim)])]).await;
            worker::console_error!("{}", json!({ "dead_letter": "not queued again", "error": error }));
            return Err(ApiError::storage_unavailable());
        }
        worker::console_log!("{}", json!({ "dead_letter": "queued again", "event_id": letter.event_id }));
    }
    Ok(Reply::Json(200, answer(&letter)))
}

/// The page itself carries no data: it asks for the token and calls the routes above.
pub fn dashboard(env: &Env) -> Handled {
    dashboard_on(env)?;
    Ok(Reply::Html(include_str!("../../../static/admin.html").to_string()))
}

/// `GET /admin.js`: the dashboard's script, a file of its own because the page's CSP
/// allows no inline script; there exactly when the dashboard is.
pub fn dashboard_script(env: &Env) -> Handled {
    dashboard_on(env)?;
    let body = include_str!("../../../static/admin.js").to_string();
    Ok(Reply::Asset { content_type: "text/javascript; charset=utf-8", cache_control: "public, max-age=300", body })
}

fn dashboard_on(env: &Env) -> Result<(), ApiError> {
    let isolate = settings(env);
    if isolate.events.admin_token.is_none() || env.d1(DB_BINDING).is_err() {
        return Err(ApiError::not_found("route"));
    }
    Ok(())
}
