//! Meta's refusals of a template creation, in the shape of its Graph errors.

use serde_json::Value;

use crate::meta_errors::new_graph_error;

/// A refused creation: what Meta's error body says (the answer is always a 400).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: i64,
    pub subcode: Option<i64>,
    pub message: String,
    pub user_title: Option<String>,
    pub user_msg: Option<String>,
    pub blame_field: Option<String>,
}

impl Refusal {
    /// Graph's plain parameter error: `(#100) …`, no user-facing title.
    pub(super) fn param(message: impl Into<String>) -> Refusal {
        Refusal {
            code: 100,
            subcode: None,
            message: format!("(#100) {}", message.into()),
            user_title: None,
            user_msg: None,
            blame_field: None,
        }
    }

    /// Meta's template refusal: "Invalid parameter" with a title and a sentence for people.
    pub(super) fn user(subcode: Option<i64>, title: &str, msg: impl Into<String>) -> Refusal {
        Refusal {
            code: 100,
            subcode,
            message: "Invalid parameter".into(),
            user_title: Some(title.into()),
            user_msg: Some(msg.into()),
            blame_field: None,
        }
    }

    pub(super) fn blame(mut self, field: &str) -> Refusal {
        self.blame_field = Some(field.into());
        self
    }

    pub fn to_json(&self) -> Value {
        new_graph_error(
            &self.message,
            self.code,
            self.subcode,
            self.user_title.as_deref(),
            self.user_msg.as_deref(),
            self.blame_field.as_deref(),
        )
    }
}

/// The error a creation gets when the name already has content in that language.
pub fn already_exists(language: &str) -> Refusal {
    Refusal::user(
        Some(2_388_024),
        "Content in This Language Already Exists",
        format!(
            "There is already {} content for this template. You can create a new template and try again.",
            language_name(language)
        ),
    )
}

/// English names for the languages the messages mention most; the code otherwise.
pub fn language_name(code: &str) -> String {
    let name = match code {
        "en" => "English",
        "en_US" => "English (US)",
        "en_GB" => "English (UK)",
        "es" => "Spanish",
        "es_ES" => "Spanish (SPA)",
        "es_MX" => "Spanish (MEX)",
        "pt_BR" => "Portuguese (BR)",
        "pt_PT" => "Portuguese (POR)",
        "de" => "German",
        "fr" => "French",
        "it" => "Italian",
        "nl" => "Dutch",
        _ => return code.to_string(),
    };
    name.to_string()
}
