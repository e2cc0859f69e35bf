//! The operator's view: `GET /v1/admin/stats`, `/v1/admin/series`,
//! `/v1/admin/dead-letters` (bearer `ADMIN_TOKEN`) and the `/admin` dashboard.
//! Absent `ADMIN_TOKEN` or D1 binding, none of them exists (404).

use serde::de::DeserializeOwned;
use worker::{D1Database, D1Result, Env, Request};

use crate::core::error::ApiError;
use crate::core::events::admin::bearer_matches;
use crate::core::events::analytics::{
    parse_window, shape_dead_letters, shape_series, shape_stats, CountryRow, DeadLetter, HourRow, KeyCount, Param,
    Percentiles, StatsRows, Window, LIST_DEAD_LETTERS, SERIES_QUERY, STATS_QUERIES,
};
use crate::edge::analytics::batch;
use crate::edge::http::{header, Handled, Reply};
use crate::edge::isolate::{settings, DB_BINDING};

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
    };
    Ok(Reply::Json(200, shape_stats(window, &stats)))
}

pub async fn series(req: &Request, env: &Env) -> Handled {
    let db = authorize(req, env)?;
    let window = query_window(req)?;
    let results = batch(&db, &[(SERIES_QUERY, window_params(window))]).await.map_err(unavailable)?;
    Ok(Reply::Json(200, shape_series(window, &rows::<HourRow>(results.first())?)))
}

pub async fn dead_letters(req: &Request, env: &Env) -> Handled {
    let db = authorize(req, env)?;
    let results = batch(&db, &[(LIST_DEAD_LETTERS, Vec::new())]).await.map_err(unavailable)?;
    Ok(Reply::Json(200, shape_dead_letters(&rows::<DeadLetter>(results.first())?)))
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
