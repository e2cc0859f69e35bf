use serde_json::json;

use super::checks::*;
use super::*;

const NOW: u64 = 1_800_000_000;
const BASE: &str = "https://graph.facebook.com";

fn ok(body: serde_json::Value) -> String {
    body.to_string()
}

fn debug_token(expires_at: u64, scopes: &[&str]) -> String {
    ok(json!({"data": {"app_id": "1", "type": "SYSTEM_USER", "application": "A", "data_access_expires_at": 0,
        "expires_at": expires_at, "is_valid": true, "issued_at": 1, "scopes": scopes,
        "granular_scopes": [{"scope": "whatsapp_business_messaging", "target_ids": ["42"]}],
        "user_id": "9", "some_field_meta_adds": {"x": 1}}}))
}

#[test]
fn token_valid_never_expiring_with_both_scopes() {
    let body = debug_token(0, &["whatsapp_business_management", "whatsapp_business_messaging", "business_management"]);
    let c = token(Some((200, &body)), BASE, NOW);
    assert!(c.ok, "{c:?}");
    assert!(c.detail.contains("never expires"));
}

#[test]
fn token_expiring_within_a_week_or_without_a_scope_fails_with_a_fix() {
    let soon = debug_token(NOW + 2 * 86_400, &SCOPES);
    let c = token(Some((200, &soon)), BASE, NOW);
    assert!(!c.ok && c.detail.contains("in 2 days"), "{c:?}");
    assert!(c.fix.as_deref().unwrap().contains("Never"));
    assert!(token(Some((200, &debug_token(NOW + 30 * 86_400, &SCOPES))), BASE, NOW).ok);
    let narrow = debug_token(0, &["whatsapp_business_messaging"]);
    let c = token(Some((200, &narrow)), BASE, NOW);
    assert!(!c.ok && c.detail.contains("whatsapp_business_management"), "{c:?}");
    let invalid = ok(
        json!({"data": {"is_valid": false, "error": {"code": 190, "message": "Session has expired"}, "scopes": []}}),
    );
    assert!(!token(Some((200, &invalid)), BASE, NOW).ok);
    let refused =
        ok(json!({"error": {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 190}}));
    let c = token(Some((401, &refused)), BASE, NOW);
    assert!(!c.ok && c.detail.contains("code 190") && c.fix.unwrap().contains("system user"));
    let c = token(None, BASE, NOW);
    assert!(!c.ok && c.fix.unwrap().contains("WHATSAPP_API_BASE"));
}

fn phone(status: &str, platform: &str, can_send: &str, limit: &str, mode: &str) -> String {
    ok(json!({"display_phone_number": "+1 555-078-3881", "verified_name": "Acme", "name_status": "APPROVED",
        "quality_rating": "GREEN", "platform_type": platform, "status": status, "account_mode": mode,
        "whatsapp_business_manager_messaging_limit": limit, "id": "106",
        "health_status": {"can_send_message": can_send, "entities": [
            {"entity_type": "PHONE_NUMBER", "id": "106", "can_send_message": can_send,
             "errors": if can_send == "BLOCKED" { json!([{"error_code": 141000, "error_description": "Not registered",
                "possible_solution": "Register the number."}]) } else { json!([]) }},
            {"entity_type": "WABA", "id": "42", "can_send_message": "AVAILABLE"}]}}))
}

#[test]
fn phone_number_connected_on_cloud_api_passes_and_reports_limit_and_quality() {
    let body = phone("CONNECTED", "CLOUD_API", "AVAILABLE", "TIER_2K", "LIVE");
    let c = phone_number(Some((200, &body)), BASE, Some("15550783881"));
    assert!(c.ok && c.warnings.is_empty(), "{c:?}");
    assert!(c.detail.contains("TIER_2K") && c.detail.contains("GREEN"));
    let c = phone_number(Some((200, &body)), BASE, Some("15550000000"));
    assert!(!c.ok && c.fix.unwrap().contains("WHATSAPP_BUSINESS_NUMBER"));
}

#[test]
fn phone_number_disconnected_or_blocked_fails_and_limits_only_warn() {
    let c = phone_number(Some((200, &phone("DISCONNECTED", "CLOUD_API", "BLOCKED", "TIER_2K", "LIVE"))), BASE, None);
    assert!(!c.ok && c.fix.unwrap().contains("register"));
    let c = phone_number(Some((200, &phone("CONNECTED", "ON_PREMISE", "AVAILABLE", "TIER_2K", "LIVE"))), BASE, None);
    assert!(!c.ok && c.fix.unwrap().contains("Cloud API"));
    let c = phone_number(Some((200, &phone("CONNECTED", "CLOUD_API", "BLOCKED", "TIER_2K", "LIVE"))), BASE, None);
    assert!(!c.ok && c.detail.contains("141000") && c.fix.as_deref() == Some("Register the number."));
    let c = phone_number(Some((200, &phone("CONNECTED", "CLOUD_API", "AVAILABLE", "TIER_250", "SANDBOX"))), BASE, None);
    assert!(c.ok, "limits warn, never fail: {c:?}");
    assert_eq!(c.warnings.len(), 2);
    assert!(c.warnings[0].contains("250") && c.warnings[1].contains("test number"));
    let wrong_id = ok(json!({"error": {"message": "Unsupported get request. Object with ID '1' does not exist",
        "type": "GraphMethodException", "code": 100, "error_subcode": 33}}));
    let c = phone_number(Some((400, &wrong_id)), BASE, None);
    assert!(!c.ok && c.fix.unwrap().contains("WHATSAPP_PHONE_NUMBER_ID"));
}

#[test]
fn webhook_subscription_needs_an_app() {
    let one = ok(json!({"data": [{"whatsapp_business_api_data": {"id": "77", "link": "l", "name": "OTP"}}]}));
    assert!(webhook_subscription(Some((200, &one)), BASE).ok);
    let none = ok(json!({"data": []}));
    let c = webhook_subscription(Some((200, &none)), BASE);
    assert!(!c.ok && c.fix.unwrap().contains("subscribed_apps"));
}

fn templates(status: &str, category: &str, minutes: u64, button: &str) -> String {
    ok(json!({"data": [{"name": "otp_code", "language": "en_US", "status": status, "category": category,
        "id": "1", "rejected_reason": "NONE", "components": [
            {"type": "BODY", "add_security_recommendation": true},
            {"type": "FOOTER", "code_expiration_minutes": minutes},
            {"type": "BUTTONS", "buttons": [{"type": button, "otp_type": "COPY_CODE"}]}]},
        {"name": "otp_code", "language": "es", "status": "PENDING", "category": "AUTHENTICATION"}],
        "paging": {"cursors": {"before": "a", "after": "b"}}}))
}

#[test]
fn template_approved_authentication_with_otp_button_and_long_enough_expiry() {
    let good = templates("APPROVED", "AUTHENTICATION", 10, "OTP");
    assert!(template(Some((200, &good)), BASE, "otp_code", "en_US", 300).ok);
    for (body, needle) in [
        (templates("PENDING", "AUTHENTICATION", 10, "OTP"), "review"),
        (templates("REJECTED", "AUTHENTICATION", 10, "OTP"), "new name"),
        (templates("APPROVED", "UTILITY", 10, "OTP"), "authentication"),
        (templates("APPROVED", "AUTHENTICATION", 10, "QUICK_REPLY"), "one-time-password"),
        (templates("APPROVED", "AUTHENTICATION", 4, "OTP"), "OTP_TTL_SECONDS"),
    ] {
        let c = template(Some((200, &body)), BASE, "otp_code", "en_US", 300);
        assert!(!c.ok && c.fix.as_deref().unwrap().contains(needle), "{needle}: {c:?}");
    }
    let c = template(Some((200, &good)), BASE, "otp_code", "de", 300);
    assert!(!c.ok && c.detail.contains("has: en_US, es") && c.fix.unwrap().contains("--languages de"));
}

#[test]
fn worker_checks_read_the_workers_answers() {
    let healthy = ok(
        json!({"ok": true, "version": "0.1.0", "features": {}, "warnings": ["TEST_NUMBERS: +1********02 expired on 2020-01-01"]}),
    );
    let c = worker_health(Some((200, &healthy)), "http://w");
    assert!(c.ok && c.warnings.len() == 1);
    let broken = ok(json!({"ok": false, "problems": ["TOKEN_SECRET"]}));
    let c = worker_health(Some((503, &broken)), "http://w");
    assert!(!c.ok && c.detail.contains("TOKEN_SECRET"));
    assert!(webhook_handshake(Some((200, "abc")), "abc").ok);
    assert!(!webhook_handshake(Some((200, "abd")), "abc").ok);
    let c = webhook_handshake(Some((403, "{}")), "abc");
    assert!(!c.ok && c.fix.unwrap().contains("WHATSAPP_VERIFY_TOKEN"));
    assert!(webhook_signature(Some((200, "")), Some((401, ""))).ok);
    let c = webhook_signature(Some((401, "")), Some((401, "")));
    assert!(!c.ok && c.fix.unwrap().contains("WHATSAPP_APP_SECRET"));
    assert!(!webhook_signature(Some((200, "")), Some((200, ""))).ok);
}

#[test]
fn output_shapes_and_secrets_masked() {
    let checks = vec![Check::pass("token", "valid"), Check::fail("template", "PENDING", "Wait.")];
    let j = to_json(&checks);
    assert_eq!(j["ok"], false);
    assert_eq!(j["checks"][0], json!({"name": "token", "ok": true, "detail": "valid"}));
    assert_eq!(j["checks"][1]["fix"], "Wait.");
    let text = render(&checks);
    assert!(text.contains("✔ token") && text.contains("✘ template") && text.contains("1 of 2 checks failed."));
    assert_eq!(mask("token EAAGsecret here", &["EAAGsecret"]), "token ••• here");
    assert!(signature("k", b"{}").starts_with("sha256=") && signature("k", b"{}").len() == 7 + 64);
}
