use serde_json::{json, Value};

use super::creation::{contains_emoji, contains_url};
use super::refusal::Refusal;
use super::*;
use crate::fixtures::copy_code_template;

fn body(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

fn copy_code() -> Value {
    copy_code_template("otp_code", "en_US")
}

fn refused(v: Value) -> Refusal {
    validate_new(&body(v)).expect_err("should be refused")
}

#[test]
fn accepts_copy_code_and_fills_in_meta_texts() {
    let t = validate_new(&body(copy_code())).unwrap();
    assert_eq!((t.name.as_str(), t.language.as_str(), t.category.as_str()), ("otp_code", "en_US", "AUTHENTICATION"));
    assert_eq!(t.message_send_ttl_seconds, 300);
    assert_eq!(
        t.components[0]["text"],
        "*{{1}}* is your verification code. For your security, do not share this code."
    );
    assert_eq!(t.components[1]["text"], "This code expires in 5 minutes.");
    assert_eq!(t.components[2]["buttons"][0], json!({"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}));
}

#[test]
fn one_tap_and_zero_tap_need_supported_apps() {
    let app = json!([{"package_name": "com.example.app", "signature_hash": "K8a/AINcGX7"}]);
    for otp in ["ONE_TAP", "ZERO_TAP"] {
        let mut v = copy_code();
        v["components"][2]["buttons"][0]["otp_type"] = json!(otp);
        let r = refused(v.clone());
        assert_eq!(r.user_title.as_deref(), Some("Supported Apps Required"), "{otp}");
        v["components"][2]["buttons"][0]["supported_apps"] = app.clone();
        if otp == "ZERO_TAP" {
            assert_eq!(refused(v.clone()).user_title.as_deref(), Some("Zero-Tap Terms Not Accepted"));
            v["components"][2]["buttons"][0]["zero_tap_terms_accepted"] = json!(true);
        }
        let t = validate_new(&body(v)).unwrap();
        assert_eq!(t.components[2]["buttons"][0]["supported_apps"], app, "{otp}");
    }
    let mut v = copy_code();
    v["components"][2]["buttons"][0] = json!({"type": "OTP", "otp_type": "ONE_TAP",
        "supported_apps": [{"package_name": "nodots", "signature_hash": "K8a/AINcGX7"}]});
    assert_eq!(refused(v.clone()).user_title.as_deref(), Some("Invalid Package Name"));
    v["components"][2]["buttons"][0]["supported_apps"][0] = json!({"package_name": "com.x", "signature_hash": "short"});
    assert_eq!(refused(v).user_title.as_deref(), Some("Invalid Signature Hash"));
}

#[test]
fn refuses_urls_emojis_and_media() {
    let mut v = copy_code();
    v["components"][0]["text"] = json!("Your code: see https://example.com/otp");
    let r = refused(v);
    assert_eq!((r.code, r.message.as_str()), (100, "Invalid parameter"));
    assert!(r.user_msg.unwrap().contains("can't contain URLs"));
    let json = refused({
        let mut v = copy_code();
        v["components"][0]["text"] = json!("Go to example.com now");
        v
    })
    .to_json();
    assert_eq!(json["error"]["error_user_title"], "URLs Aren't Allowed in Authentication Templates");
    assert_eq!(json["error"]["error_data"]["blame_field_specs"], json!([["body"]]));

    let mut v = copy_code();
    v["components"][0]["text"] = json!("Your code \u{1F510}");
    assert!(refused(v).user_msg.unwrap().contains("emojis"));

    let mut v = copy_code();
    v["components"].as_array_mut().unwrap().insert(0, json!({"type": "HEADER", "format": "IMAGE"}));
    let r = refused(v);
    assert_eq!(r.subcode, Some(2_388_047));
    assert!(r.user_msg.unwrap().contains("media"));
}

#[test]
fn needs_an_otp_button_and_a_body() {
    let mut v = copy_code();
    v["components"].as_array_mut().unwrap().pop();
    assert_eq!(refused(v).user_title.as_deref(), Some("One-Time Password Button Required"));
    let mut v = copy_code();
    v["components"][2]["buttons"][0] = json!({"type": "URL", "text": "Open", "url": "https://x.example"});
    assert_eq!(refused(v).user_title.as_deref(), Some("One-Time Password Button Required"));
    let mut v = copy_code();
    v["components"].as_array_mut().unwrap().remove(0);
    assert_eq!(refused(v).user_title.as_deref(), Some("Body Is Required"));
    let mut v = copy_code();
    v["components"][2]["buttons"][0]["otp_type"] = json!("MAGIC");
    assert!(refused(v).message.starts_with("(#100) Param components[2][buttons][0][otp_type] must be one of"));
}

#[test]
fn expiration_ttl_name_language_and_category_rules() {
    for minutes in [json!(0), json!(91), json!("5"), json!(2.5)] {
        let mut v = copy_code();
        v["components"][1]["code_expiration_minutes"] = minutes.clone();
        assert_eq!(refused(v).user_title.as_deref(), Some("Invalid Code Expiration Time"), "{minutes}");
    }
    for ttl in [json!(29), json!(901), json!("300")] {
        let mut v = copy_code();
        v["message_send_ttl_seconds"] = ttl;
        assert_eq!(refused(v).user_title.as_deref(), Some("Invalid Message Time-To-Live"));
    }
    let mut v = copy_code();
    v["name"] = json!("OTP Code");
    let r = refused(v);
    assert_eq!((r.subcode, r.user_title.as_deref()), (Some(2_388_046), Some("Name Format is Incorrect")));
    let mut v = copy_code();
    v.as_object_mut().unwrap().remove("name");
    assert_eq!(refused(v).message, "(#100) The parameter name is required.");
    let mut v = copy_code();
    v["language"] = json!("fr_FR");
    assert!(refused(v).message.contains("fr_FR"));
    let mut v = copy_code();
    v["category"] = json!("OTP");
    assert_eq!(
        refused(v).message,
        "(#100) Param category must be one of {AUTHENTICATION, MARKETING, UTILITY} - got \"OTP\"."
    );
    let mut v = copy_code();
    v["category"] = json!("MARKETING");
    assert_eq!(refused(v).user_title.as_deref(), Some("Category Not Supported Here"));
    assert!(validate_new(b"[]").is_err() && validate_new(b"nope").is_err());
}

#[test]
fn url_and_emoji_detection() {
    for s in ["http://a.b", "visit www.example.org", "example.com/x", "go to my-site.io.", "HTTPS://X.Y"] {
        assert!(contains_url(s), "{s}");
    }
    for s in ["1.5 minutes", "e.g. this", "Your code is 123456.", "end. Next"] {
        assert!(!contains_url(s), "{s}");
    }
    assert!(contains_emoji("ok \u{2705}") && contains_emoji("\u{1F600}") && !contains_emoji("plain é ü"));
}

#[test]
fn review_settles_to_the_verdict() {
    let mut t = seeded("1".into(), "otp", "en_US");
    t.status = "PENDING".into();
    t.review_ends_ms = Some(1_000);
    t.settle(999);
    assert_eq!(t.status, "PENDING");
    t.settle(1_000);
    assert_eq!(t.status, "APPROVED");
    let mut t = seeded("2".into(), "otp", "es");
    t.status = "PENDING".into();
    t.review_ends_ms = Some(5);
    t.verdict = ("REJECTED".into(), Some("INVALID_FORMAT".into()));
    t.settle(10);
    assert_eq!((t.status.as_str(), t.rejected_reason.as_deref()), ("REJECTED", Some("INVALID_FORMAT")));
    let listed = t.to_json(None);
    assert_eq!(listed["rejected_reason"], "INVALID_FORMAT");
    let fields = vec!["name".to_string(), "status".to_string()];
    let limited = t.to_json(Some(&fields));
    assert_eq!(limited, json!({"name": "otp", "status": "REJECTED", "id": "2"}));
}

#[test]
fn sends_need_an_approved_translation() {
    let mut ts = vec![seeded("1".into(), "otp_code", "en_US"), seeded("2".into(), "otp_code", "es")];
    ts[1].status = "PENDING".into();
    assert_eq!(send_check(&ts, "otp_code", "en_US"), None);
    assert_eq!(send_check(&ts, "otp_code", "es").unwrap().0, 132_001);
    let (code, details) = send_check(&ts, "otp_code", "fr_FR").unwrap();
    assert_eq!((code, details.as_str()), (132_001, "template name (otp_code) does not exist in fr_FR"));
    assert_eq!(send_check(&ts, "other", "en_US").unwrap().0, 132_001);
    ts[0].status = "PAUSED".into();
    assert_eq!(send_check(&ts, "otp_code", "en_US").unwrap().0, 132_015);
}

#[test]
fn seeds_parse() {
    let s = parse_seed("otp_code:en_US,pt_BR,es,de; other:en").unwrap();
    assert_eq!(s[0], ("otp_code".to_string(), vec!["en_US".into(), "pt_BR".into(), "es".into(), "de".into()]));
    assert_eq!(s[1].0, "other");
    assert!(parse_seed("otp_code").is_err());
    assert!(parse_seed("Bad:en").is_err());
    assert!(parse_seed("otp:xx_YY").is_err());
    assert!(parse_seed("otp:").is_err());
    assert_eq!(parse_seed("").unwrap(), vec![]);
}

#[test]
fn already_exists_names_the_language() {
    let j = already_exists("en_US").to_json();
    assert_eq!(j["error"]["code"], 100);
    assert_eq!(j["error"]["error_subcode"], 2_388_024);
    assert_eq!(j["error"]["error_user_title"], "Content in This Language Already Exists");
    assert_eq!(
        j["error"]["error_user_msg"],
        "There is already English (US) content for this template. You can create a new template and try again."
    );
}
