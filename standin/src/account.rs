//! The business account as Graph shows it to `otpctl doctor`: the token's debug
//! info, the phone number's fields (with `health_status`), and the apps subscribed
//! to the business account's webhooks. Healthy by default; `/control/account`
//! breaks one thing at a time. Shapes follow Meta's documented answers.

use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The app the stand-in pretends the token belongs to.
pub const APP_ID: &str = "1234567890123456";
pub const APP_NAME: &str = "OTP worker";
const SYSTEM_USER_ID: &str = "122100000000000001";
const BUSINESS_ID: &str = "100000000000042";
pub const SCOPES: [&str; 2] = ["whatsapp_business_management", "whatsapp_business_messaging"];

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// `false`: every Graph call with the token is refused (190), as for a revoked one.
    pub token_valid: bool,
    /// Unix seconds; 0: never expires (a system user's token).
    pub token_expires_at: u64,
    pub scopes: Vec<String>,
    /// Whether the app is subscribed to the business account's webhooks.
    pub subscribed: bool,
    pub status: String,
    pub platform_type: String,
    pub can_send_message: String,
    pub quality_rating: String,
    pub messaging_limit_tier: String,
    pub account_mode: String,
    pub name_status: String,
    pub verified_name: String,
}

impl Default for Account {
    fn default() -> Self {
        Account {
            token_valid: true,
            token_expires_at: 0,
            scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
            subscribed: true,
            status: "CONNECTED".into(),
            platform_type: "CLOUD_API".into(),
            can_send_message: "AVAILABLE".into(),
            quality_rating: "GREEN".into(),
            messaging_limit_tier: "TIER_2K".into(),
            account_mode: "LIVE".into(),
            name_status: "APPROVED".into(),
            verified_name: "Acme".into(),
        }
    }
}

/// `POST /control/account`: what to change; absent fields stay as they are.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountChange {
    pub token_valid: Option<bool>,
    /// Days from now; `null`: never expires.
    #[serde(default, deserialize_with = "days_or_never")]
    pub token_expires_in_days: Option<Option<u64>>,
    pub scopes: Option<Vec<String>>,
    pub subscribed: Option<bool>,
    pub status: Option<String>,
    pub platform_type: Option<String>,
    pub can_send_message: Option<String>,
    pub quality_rating: Option<String>,
    pub messaging_limit_tier: Option<String>,
    pub account_mode: Option<String>,
    pub name_status: Option<String>,
    pub verified_name: Option<String>,
}

fn days_or_never<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

impl Account {
    pub fn apply(&mut self, change: AccountChange, now_s: u64) {
        let set = |slot: &mut String, value: Option<String>| {
            if let Some(v) = value {
                *slot = v.to_ascii_uppercase();
            }
        };
        if let Some(valid) = change.token_valid {
            self.token_valid = valid;
        }
        if let Some(days) = change.token_expires_in_days {
            self.token_expires_at = days.map_or(0, |d| now_s + d * 86_400);
        }
        if let Some(scopes) = change.scopes {
            self.scopes = scopes;
        }
        if let Some(subscribed) = change.subscribed {
            self.subscribed = subscribed;
        }
        set(&mut self.status, change.status);
        set(&mut self.platform_type, change.platform_type);
        set(&mut self.can_send_message, change.can_send_message);
        set(&mut self.quality_rating, change.quality_rating);
        set(&mut self.messaging_limit_tier, change.messaging_limit_tier);
        set(&mut self.account_mode, change.account_mode);
        set(&mut self.name_status, change.name_status);
        if let Some(name) = change.verified_name {
            self.verified_name = name;
        }
    }

    /// `GET /{version}/debug_token?input_token=…` for the stand-in's own token.
    pub fn debug_token(&self, waba_id: &str, now_s: u64) -> Value {
        let granular: Vec<Value> = self.scopes.iter().map(|s| json!({"scope": s, "target_ids": [waba_id]})).collect();
        json!({"data": {
            "app_id": APP_ID,
            "type": "SYSTEM_USER",
            "application": APP_NAME,
            "data_access_expires_at": 0,
            "expires_at": self.token_expires_at,
            "is_valid": self.token_valid && (self.token_expires_at == 0 || self.token_expires_at > now_s),
            "issued_at": now_s.saturating_sub(86_400),
            "scopes": self.scopes,
            "granular_scopes": granular,
            "user_id": SYSTEM_USER_ID,
        }})
    }

    /// `health_status` of the phone number: the number, its business account, the
    /// business and the app, each with `can_send_message`; a blocked or limited one
    /// carries `errors`.
    fn health_status(&self, phone_number_id: &str, waba_id: &str) -> Value {
        let phone_ok = self.status == "CONNECTED" && self.platform_type == "CLOUD_API";
        let mut phone = json!({"entity_type": "PHONE_NUMBER", "id": phone_number_id,
            "can_send_message": if phone_ok { self.can_send_message.as_str() } else { "BLOCKED" }});
        if !phone_ok {
            phone["errors"] = json!([{
                "error_code": 141000,
                "error_description": format!("The phone number is {} on {}.", self.status, self.platform_type),
                "possible_solution": "Register the phone number with the Cloud API (POST /{phone-number-id}/register).",
            }]);
        } else if self.can_send_message != "AVAILABLE" {
            phone["errors"] = json!([{
                "error_code": 141006,
                "error_description": "There is an error with the payment method.",
                "possible_solution": "Add a valid payment method to the WhatsApp Business Account.",
            }]);
        }
        let overall = match phone["can_send_message"].as_str() {
            Some("AVAILABLE") => "AVAILABLE",
            Some("LIMITED") => "LIMITED",
            _ => "BLOCKED",
        };
        let mut business = json!({"entity_type": "BUSINESS", "id": BUSINESS_ID, "can_send_message": "AVAILABLE"});
        if self.messaging_limit_tier == "TIER_250" {
            business["can_send_message"] = "LIMITED".into();
            business["additional_info"] =
                json!(["Your business is not verified: messages can reach 250 new customers in a rolling 24 hours."]);
        }
        let overall =
            if overall == "AVAILABLE" && business["can_send_message"] == "LIMITED" { "LIMITED" } else { overall };
        json!({"can_send_message": overall, "entities": [
            phone,
            {"entity_type": "WABA", "id": waba_id, "can_send_message": "AVAILABLE"},
            business,
            {"entity_type": "APP", "id": APP_ID, "can_send_message": "AVAILABLE"},
        ]})
    }

    /// `GET /{version}/{phone_number_id}?fields=…`: the fields asked for (all of them
    /// without `fields`), plus `id`, as Graph answers.
    pub fn phone_number(&self, phone_number_id: &str, waba_id: &str, display: &str, fields: Option<&str>) -> Value {
        let all = [
            ("display_phone_number", json!(display)),
            ("verified_name", json!(self.verified_name)),
            ("name_status", json!(self.name_status)),
            ("quality_rating", json!(self.quality_rating)),
            ("platform_type", json!(self.platform_type)),
            ("status", json!(self.status)),
            // `messaging_limit_tier` is deprecated; Meta answers the limit here now.
            ("whatsapp_business_manager_messaging_limit", json!(self.messaging_limit_tier)),
            ("account_mode", json!(self.account_mode)),
            ("code_verification_status", json!("VERIFIED")),
            ("health_status", self.health_status(phone_number_id, waba_id)),
        ];
        let wanted: Option<Vec<&str>> = fields.map(|f| f.split(',').map(str::trim).collect());
        let mut out = Map::new();
        for (name, value) in all {
            if wanted.as_ref().is_none_or(|w| w.contains(&name)) {
                out.insert(name.into(), value);
            }
        }
        out.insert("id".into(), json!(phone_number_id));
        Value::Object(out)
    }

    /// `GET /{version}/{waba_id}/subscribed_apps`.
    pub fn subscribed_apps(&self) -> Value {
        let data: Vec<Value> = if self.subscribed {
            vec![json!({"whatsapp_business_api_data": {
                "id": APP_ID,
                "link": format!("https://www.facebook.com/games/?app_id={APP_ID}"),
                "name": APP_NAME,
            }})]
        } else {
            Vec::new()
        };
        json!({"data": data})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn healthy_by_default_in_metas_shapes() {
        let a = Account::default();
        let t = a.debug_token("42", NOW);
        assert_eq!((&t["data"]["is_valid"], &t["data"]["expires_at"]), (&json!(true), &json!(0)));
        assert_eq!(t["data"]["scopes"], json!(SCOPES));
        assert_eq!(t["data"]["granular_scopes"][0], json!({"scope": SCOPES[0], "target_ids": ["42"]}));
        let p = a.phone_number("106", "42", "+1 555-078-3881", Some("status,platform_type,health_status"));
        assert_eq!(p["status"], "CONNECTED");
        assert_eq!(p["id"], "106");
        assert!(p.get("quality_rating").is_none(), "only the fields asked for");
        assert_eq!(p["health_status"]["can_send_message"], "AVAILABLE");
        assert_eq!(p["health_status"]["entities"][0]["entity_type"], "PHONE_NUMBER");
        assert_eq!(a.phone_number("106", "42", "x", None)["quality_rating"], "GREEN");
        assert_eq!(a.subscribed_apps()["data"][0]["whatsapp_business_api_data"]["id"], APP_ID);
    }

    #[test]
    fn control_breaks_one_thing_at_a_time() {
        let mut a = Account::default();
        let change: AccountChange = serde_json::from_value(json!({"token_expires_in_days": 2})).unwrap();
        a.apply(change, NOW);
        assert_eq!(a.debug_token("42", NOW)["data"]["expires_at"], NOW + 2 * 86_400);
        assert_eq!(a.debug_token("42", NOW)["data"]["is_valid"], true);
        assert_eq!(a.debug_token("42", NOW + 3 * 86_400)["data"]["is_valid"], false);
        a.apply(serde_json::from_value(json!({"token_expires_in_days": null})).unwrap(), NOW);
        assert_eq!(a.token_expires_at, 0);

        a.apply(serde_json::from_value(json!({"subscribed": false})).unwrap(), NOW);
        assert_eq!(a.subscribed_apps(), json!({"data": []}));

        a.apply(serde_json::from_value(json!({"status": "disconnected"})).unwrap(), NOW);
        let p = a.phone_number("106", "42", "x", Some("status,health_status"));
        assert_eq!(
            (&p["status"], &p["health_status"]["can_send_message"]),
            (&json!("DISCONNECTED"), &json!("BLOCKED"))
        );
        assert_eq!(p["health_status"]["entities"][0]["errors"][0]["error_code"], 141000);

        let mut b = Account::default();
        b.apply(serde_json::from_value(json!({"messaging_limit_tier": "TIER_250"})).unwrap(), NOW);
        let p = b.phone_number("106", "42", "x", Some("health_status"));
        assert_eq!(p["health_status"]["can_send_message"], "LIMITED");
        assert_eq!(p["health_status"]["entities"][2]["can_send_message"], "LIMITED");
        assert!(serde_json::from_value::<AccountChange>(json!({"bogus": 1})).is_err());
    }
}
