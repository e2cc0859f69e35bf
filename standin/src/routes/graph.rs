//! What every Graph route (sends and message templates) checks first: the version
//! segment of the path and the bearer token.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::json_response;
use crate::meta_errors;

/// `v<digits>.<digits>`, like `v23.0`.
pub(super) fn is_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let Some((major, minor)) = rest.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

pub(super) fn bearer_ok(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, t)) => scheme.eq_ignore_ascii_case("bearer") && t.trim() == token,
        None => false,
    }
}

/// 401 for a missing or wrong bearer token, with the header Graph sends.
pub(super) fn unauthorized() -> Response {
    let mut resp = json_response(StatusCode::UNAUTHORIZED, meta_errors::invalid_token());
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "OAuth \"Facebook Platform\" \"invalid_token\" \"Invalid OAuth access token - Cannot parse access token\"",
        ),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(is_version("v23.0"));
        assert!(is_version("v1.10"));
        for bad in ["23.0", "v23", "v23.", "v.0", "vx.0", "v23.0.1", "V23.0"] {
            assert!(!is_version(bad), "{bad}");
        }
    }

    #[test]
    fn bearer_tokens() {
        let mut h = HeaderMap::new();
        assert!(!bearer_ok(&h, "tok"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer tok"));
        assert!(bearer_ok(&h, "tok"));
        assert!(!bearer_ok(&h, "other"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer tok"));
        assert!(bearer_ok(&h, "tok"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("tok"));
        assert!(!bearer_ok(&h, "tok"));
    }
}
