//! D1, for the queue consumer (writes) and the admin routes (reads): statements
//! run in one round trip, the schema applied first the first time an isolate
//! touches the database.

use std::cell::Cell;

use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

use crate::core::events::analytics::{schema, Param};

thread_local! {
    /// The schema has been applied by this isolate.
    static SCHEMA_READY: Cell<bool> = const { Cell::new(false) };
}

fn to_js(param: &Param) -> JsValue {
    match param {
        Param::Text(s) => JsValue::from_str(s),
        Param::Int(i) => JsValue::from_f64(*i as f64),
        Param::Null => JsValue::NULL,
    }
}

fn statement(db: &D1Database, sql: &str, params: &[Param]) -> worker::Result<D1PreparedStatement> {
    let values: Vec<JsValue> = params.iter().map(to_js).collect();
    db.prepare(sql).bind(&values)
}

/// Runs `statements` in one round trip, preceded by the schema the first time this
/// isolate touches D1; returns the results of `statements` only.
pub async fn batch(db: &D1Database, statements: &[(&str, Vec<Param>)]) -> worker::Result<Vec<D1Result>> {
    let schema = if SCHEMA_READY.with(Cell::get) { Vec::new() } else { schema() };
    let mut prepared: Vec<D1PreparedStatement> = schema.iter().map(|s| db.prepare(s)).collect();
    for (sql, params) in statements {
        prepared.push(statement(db, sql, params)?);
    }
    if prepared.is_empty() {
        return Ok(Vec::new());
    }
    let mut results = db.batch(prepared).await?;
    if !schema.is_empty() {
        SCHEMA_READY.with(|c| c.set(true));
        results.drain(..schema.len());
    }
    Ok(results)
}

/// Runs `sql` once per row of parameters, all in one round trip.
pub async fn write(db: &D1Database, sql: &str, rows: Vec<Vec<Param>>) -> worker::Result<()> {
    let statements: Vec<(&str, Vec<Param>)> = rows.into_iter().map(|row| (sql, row)).collect();
    batch(db, &statements).await.map(|_| ())
}
