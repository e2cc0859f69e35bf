//! The Content-Security-Policy of the pages the worker serves (`/`, `/admin`).
//!
//! Scripts come only from the worker's own files (no inline script, no other
//! origin: neither page loads anything from elsewhere), so an injected `<script>`
//! never runs. Each page's own `<style>` block is allowed by its SHA-256 hash rather
//! than `'unsafe-inline'`, so an injected style block or `style=` attribute is not.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The policy for `html`: everything denied but what the pages use.
pub fn page_policy(html: &str) -> String {
    let styles: String =
        style_blocks(html).map(|s| format!(" 'sha256-{}'", STANDARD.encode(Sha256::digest(s)))).collect();
    let style_src = if styles.is_empty() { " 'none'".to_string() } else { styles };
    format!(
        "default-src 'none'; script-src 'self'; style-src{style_src}; connect-src 'self'; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
}

/// The text of every `<style>` element, exactly as the browser hashes it.
fn style_blocks(html: &str) -> impl Iterator<Item = &str> {
    let mut rest = html;
    std::iter::from_fn(move || {
        let open = rest.find("<style")?;
        let body = open + rest[open..].find('>')? + 1;
        let len = rest[body..].find("</style>")?;
        let block = &rest[body..body + len];
        rest = &rest[body + len..];
        Some(block)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denies_everything_the_pages_do_not_use() {
        let policy = page_policy("<p>hi</p>");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'none'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(policy.split("; ").any(|d| d == directive), "{directive} in {policy}");
        }
        assert!(!policy.contains("unsafe"));
    }

    #[test]
    fn each_style_block_is_allowed_by_its_hash() {
        // `printf 'p{color:red}' | openssl dgst -sha256 -binary | base64`
        let html = "<style>p{color:red}</style><p>x</p><style media=\"print\">a{}</style>";
        let policy = page_policy(html);
        let style_src = policy.split("; ").find(|d| d.starts_with("style-src")).unwrap();
        assert_eq!(style_src.split(' ').count(), 3, "{style_src}");
        assert!(style_src.contains("'sha256-p0bF+un5yUb9MBO6xRb8kPHlY2BdpHVtLiFkDrZPF64='"), "{style_src}");
        assert!(!style_src.contains("unsafe-inline"));
    }

    #[test]
    fn the_served_pages_have_one_style_block_each_and_no_inline_script() {
        for html in [include_str!("../../static/index.html"), include_str!("../../static/admin.html")] {
            assert_eq!(style_blocks(html).count(), 1);
            for tag in html.match_indices("<script").map(|(at, _)| &html[at..at + html[at..].find('>').unwrap()]) {
                assert!(tag.contains("src=\"/"), "an inline or foreign script: {tag}");
            }
            assert!(!html.contains(" style="), "an inline style attribute");
            let handler = html.match_indices(" on").any(|(at, _)| {
                let name: String = html[at + 1..].chars().take_while(char::is_ascii_alphabetic).collect();
                html[at + 1 + name.len()..].starts_with('=')
            });
            assert!(!handler, "an inline event handler");
        }
    }
}
