//! The edge's one clock. The core takes times as arguments; this is where they come from.

/// Milliseconds since the epoch (in Workers, the clock advances on I/O).
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
