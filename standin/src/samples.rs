//! Test-only access to Meta's documented webhook samples.

use serde_json::Value;

/// Loads `name` (e.g. `incoming-text.json`) from the repository's copy of Meta's
/// samples in `tests/fixtures/`.
pub fn load(name: &str) -> Value {
    let root = env!("CARGO_MANIFEST_DIR");
    let candidates = [format!("{root}/../tests/fixtures/{name}")];
    for path in &candidates {
        if let Ok(text) = std::fs::read_to_string(path) {
            return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    }
    panic!("sample {name} not found in {candidates:?}");
}

/// The set of key paths in a JSON value (`a.b[].c`), for comparing shapes.
pub fn key_paths(v: &Value) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    walk(v, String::new(), &mut out);
    out
}

fn walk(v: &Value, prefix: String, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                out.insert(p.clone());
                walk(child, p, out);
            }
        }
        Value::Array(items) => {
            for child in items {
                walk(child, format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}
