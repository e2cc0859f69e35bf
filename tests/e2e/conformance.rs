//! The worker against its OpenAPI document: every response a test saw is recorded by
//! the client, and at the end of the run each one is checked against
//! `openapi/openapi.json`: a documented path and method (or the documented 404/405), a
//! documented status, the documented content type, documented headers whose values fit
//! their schemas, and a body that validates against the documented schema (JSON Schema
//! 2020-12, the dialect of OpenAPI 3.1). `HEAD` and `OPTIONS` are not operations of each
//! path: they are checked against the rule the document states once, in `x-every-path`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{json, Value};

/// One response from a worker, as a test saw it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// `None` when the test built the request itself (then any documented method fits).
    pub method: Option<String>,
    pub url: String,
    pub status: u16,
    pub content_type: Option<String>,
    /// Every response header, names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Exchange {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

static RECORDED: Mutex<Vec<Exchange>> = Mutex::new(Vec::new());

pub fn record(exchange: Exchange) {
    RECORDED.lock().unwrap_or_else(|e| e.into_inner()).push(exchange);
}

pub fn document() -> Value {
    let path = crate::harness::root().join("openapi/openapi.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("openapi/openapi.json is JSON")
}

/// Checks every recorded worker response; returns the failures (one line each).
pub fn check_recorded() -> (usize, Vec<String>) {
    let doc = document();
    // Only workers' answers (every worker goes through `Worker::start`), not the
    // stand-ins' or the callback receivers'.
    let workers: Vec<String> = crate::harness::STARTED_WORKERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|url| format!("{}/", url.trim_end_matches('/')))
        .collect();
    let recorded = RECORDED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut checked = 0;
    let mut failures = Vec::new();
    // Not the worker's answer: workerd refuses a method it does not know at all (501)
    // before any worker runs.
    let runtime_refusal = |x: &Exchange| x.status == 501 && !x.body.starts_with("{\"error\"");
    for exchange in
        recorded.iter().filter(|x| workers.iter().any(|w| x.url.starts_with(w.as_str())) && !runtime_refusal(x))
    {
        checked += 1;
        if let Err(why) = conforms(&doc, exchange) {
            let method = exchange.method.as_deref().unwrap_or("?");
            let why: String = why.chars().take(400).collect();
            failures.push(format!("{method} {} → {}: {why}", path_of(&exchange.url), exchange.status));
        }
    }
    failures.sort();
    failures.dedup();
    (checked, failures)
}

fn path_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or("/").to_string()
}

/// The document's path template that `path` matches (`/v1/otp/status/{request_id}`).
fn template_for<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let paths = doc["paths"].as_object()?;
    if paths.contains_key(path) {
        return paths.keys().find(|k| *k == path).map(String::as_str);
    }
    let segments: Vec<&str> = path.split('/').collect();
    paths.keys().map(String::as_str).find(|template| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == segments.len()
            && parts.iter().zip(&segments).all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
    })
}

const METHODS: [&str; 8] = ["get", "head", "post", "put", "patch", "delete", "options", "trace"];

pub fn conforms(doc: &Value, x: &Exchange) -> Result<(), String> {
    // A response read without its request: only HEAD answers (and 204) have no body.
    if x.method.is_none() && x.body.is_empty() && x.status != 204 {
        let head = Exchange { method: Some("HEAD".into()), ..x.clone() };
        return conforms(doc, &head);
    }
    // A 204 read without its request: a preflight, or else one of the path's operations.
    if x.method.is_none() && x.status == 204 {
        let preflight = Exchange { method: Some("OPTIONS".into()), ..x.clone() };
        if conforms(doc, &preflight).is_ok() {
            return Ok(());
        }
    }
    let path = path_of(&x.url);
    let Some(template) = template_for(doc, &path) else {
        // Unknown paths answer the documented 404.
        if x.status != 404 {
            return Err(format!("{path} is not documented"));
        }
        return check_response(doc, &doc["components"]["responses"]["NotFound"], x).map_err(|e| format!("404: {e}"));
    };
    let item = &doc["paths"][template];
    match x.method.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("HEAD") => return conforms_as_head(doc, item, x),
        Some("OPTIONS") => return conforms_as_preflight(doc, x),
        _ => {}
    }
    let operations: Vec<(&str, &Value)> = match &x.method {
        Some(m) => {
            let m = m.to_ascii_lowercase();
            METHODS.iter().filter(|k| **k == m).filter_map(|k| item.get(*k).map(|op| (*k, op))).collect()
        }
        None => METHODS.iter().filter_map(|k| item.get(*k).map(|op| (*k, op))).collect(),
    };
    if operations.is_empty() || (x.method.is_none() && x.status == 405) {
        // A method the path does not list answers the documented 405.
        if x.status != 405 {
            return Err(format!("{template} documents no such method"));
        }
        return check_response(doc, &doc["components"]["responses"]["MethodNotAllowed"], x);
    }
    let mut reasons = Vec::new();
    for (method, op) in operations {
        let responses = &op["responses"];
        let Some(response) = responses.get(x.status.to_string()).or_else(|| responses.get("default")) else {
            reasons.push(format!("{method}: status {} is not documented", x.status));
            continue;
        };
        match check_response(doc, response, x) {
            Ok(()) => return Ok(()),
            Err(e) => reasons.push(format!("{method}: {e}")),
        }
    }
    Err(reasons.join("; "))
}

/// `HEAD`, by the document's rule: `GET`'s answer (status, headers, content type), no body.
fn conforms_as_head(doc: &Value, item: &Value, x: &Exchange) -> Result<(), String> {
    if doc.pointer("/x-every-path/head").is_none() {
        return Err("the document states no rule for HEAD (x-every-path.head)".into());
    }
    let Some(get) = item.get("get") else {
        // No GET operation: GET, and so HEAD, answers the documented 405.
        return check_response(doc, &doc["components"]["responses"]["MethodNotAllowed"], x)
            .map_err(|e| format!("HEAD as GET's 405: {e}"));
    };
    let responses = &get["responses"];
    let response = responses
        .get(x.status.to_string())
        .or_else(|| responses.get("default"))
        .ok_or_else(|| format!("HEAD as GET: status {} is not documented for GET", x.status))?;
    check_response(doc, response, x).map_err(|e| format!("HEAD as GET: {e}"))
}

/// `OPTIONS`, by the document's preflight rule (`x-every-path.options`): its statuses
/// and headers, and the CORS headers all together or none at all.
fn conforms_as_preflight(doc: &Value, x: &Exchange) -> Result<(), String> {
    let rule = doc.pointer("/x-every-path/options").ok_or("the document states no rule for OPTIONS")?;
    let response = rule["responses"]
        .get(x.status.to_string())
        .ok_or_else(|| format!("OPTIONS: status {} is not the preflight's", x.status))?;
    check_response(doc, response, x).map_err(|e| format!("OPTIONS: {e}"))?;
    let documented: Vec<&String> =
        resolve(doc, response)["headers"].as_object().map(|h| h.keys().collect()).unwrap_or_default();
    let (present, missing): (Vec<&String>, Vec<&String>) = documented.iter().partition(|name| x.header(name).is_some());
    if !present.is_empty() && !missing.is_empty() {
        return Err(format!("OPTIONS: CORS headers {present:?} without {missing:?}"));
    }
    Ok(())
}

fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(pointer) => doc.pointer(pointer.trim_start_matches('#')).map_or(value, |target| resolve(doc, target)),
        None => value,
    }
}

fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

fn check_response(doc: &Value, response: &Value, x: &Exchange) -> Result<(), String> {
    let response = resolve(doc, response);
    check_headers(doc, response, x)?;
    let head = x.method.as_deref().is_some_and(|m| m.eq_ignore_ascii_case("HEAD"));
    if head && !x.body.is_empty() {
        return Err("a body in an answer to HEAD".into());
    }
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return if x.body.is_empty() { Ok(()) } else { Err("a body where none is documented".into()) };
    };
    let got = x.content_type.as_deref().map(media_type).ok_or("no Content-Type")?;
    let Some((_, media)) = content.iter().find(|(k, _)| media_type(k) == got) else {
        return Err(format!("Content-Type {got} is not one of {:?}", content.keys().collect::<Vec<_>>()));
    };
    if head {
        // GET's headers, GET's content type; the body GET would have sent is not there to check.
        return Ok(());
    }
    let Some(schema) = media.get("schema") else {
        return Ok(());
    };
    let instance = if got.ends_with("json") {
        serde_json::from_str(&x.body).map_err(|e| format!("body is not JSON: {e}"))?
    } else {
        Value::String(x.body.clone())
    };
    validate(doc, schema, &instance)
}

/// Every documented header the response carries fits its schema (an integer schema
/// reads the value as a number); a `required` one must be there.
fn check_headers(doc: &Value, response: &Value, x: &Exchange) -> Result<(), String> {
    let Some(headers) = response.get("headers").and_then(Value::as_object) else {
        return Ok(());
    };
    for (name, header) in headers {
        let header = resolve(doc, header);
        let Some(value) = x.header(name) else {
            if header["required"] == true {
                return Err(format!("no {name} header"));
            }
            continue;
        };
        let schema = resolve(doc, &header["schema"]);
        if schema.is_null() {
            continue;
        }
        let numeric = matches!(schema["type"].as_str(), Some("integer" | "number"));
        let instance = match value.trim().parse::<serde_json::Number>() {
            Ok(number) if numeric => Value::Number(number),
            _ => Value::String(value.to_string()),
        };
        validate(doc, schema, &instance).map_err(|e| format!("header {name}: {value:?}: {e}"))?;
    }
    Ok(())
}

/// Validates `instance` against `schema`, whose `$ref`s point into the document.
pub fn validate(doc: &Value, schema: &Value, instance: &Value) -> Result<(), String> {
    let mut root = match schema {
        Value::Object(map) => Value::Object(map.clone()),
        other => json!({ "allOf": [other] }),
    };
    root["$schema"] = "https://json-schema.org/draft/2020-12/schema".into();
    root["components"] = doc["components"].clone();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .map_err(|e| format!("schema does not compile: {e}"))?;
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Every example in the document validates against its own schema.
pub fn check_examples(doc: &Value) -> Vec<String> {
    let mut failures = Vec::new();
    let mut stack: Vec<(String, &Value)> = vec![("#".into(), doc)];
    while let Some((at, value)) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(schema) = map.get("schema") {
                    let mut examples: BTreeMap<String, &Value> = BTreeMap::new();
                    if let Some(example) = map.get("example") {
                        examples.insert("example".into(), example);
                    }
                    if let Some(Value::Object(named)) = map.get("examples") {
                        for (name, example) in named {
                            if let Some(v) = example.get("value") {
                                examples.insert(name.clone(), v);
                            }
                        }
                    }
                    for (name, example) in examples {
                        if let Err(e) = validate(doc, schema, example) {
                            failures.push(format!("{at} example {name}: {e}"));
                        }
                    }
                }
                for (k, v) in map {
                    stack.push((format!("{at}/{k}"), v));
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    stack.push((format!("{at}/{i}"), v));
                }
            }
            _ => {}
        }
    }
    failures
}
