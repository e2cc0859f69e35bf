//! What the worker says in the WhatsApp chat (after a code arrives there, and to
//! STOP / START / NOT ME), in the request's language where there is a translation,
//! English otherwise. Never a code.

use super::guard::number::AttemptOutcome;
use super::guard::protocol::{KeywordReply, Word};

/// The languages with a translation; anything else gets English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Es,
    Pt,
    De,
    Fr,
    Id,
    Hi,
    Ar,
}

impl Lang {
    /// `pt_BR`, `es`, `ar_EG`… → the translation for the language part.
    pub fn of(locale: Option<&str>) -> Lang {
        let language = locale.unwrap_or("en").split(['_', '-']).next().unwrap_or("en").to_ascii_lowercase();
        match language.as_str() {
            "es" => Lang::Es,
            "pt" => Lang::Pt,
            "de" => Lang::De,
            "fr" => Lang::Fr,
            "id" => Lang::Id,
            "hi" => Lang::Hi,
            "ar" => Lang::Ar,
            _ => Lang::En,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatText<'a> {
    /// Names the service, says it signed someone in, and offers `NOT ME`.
    Verified {
        service: &'a str,
    },
    Wrong {
        attempts_left: u32,
    },
    NoAttemptsLeft,
    /// A code from the number matching none of its live requests: no attempt was
    /// spent, so no count to give.
    NoMatch,
    Expired,
    AlreadyVerified,
    Stopped,
    Started,
    /// `revoked`: a verification was undone (otherwise only new codes are blocked).
    NotMe {
        revoked: bool,
    },
}

/// What the chat answers a code sent from WhatsApp; `None`: nothing (a duplicate, a
/// message older than the request, no live request).
pub fn answer_to_attempt<'a>(outcome: &AttemptOutcome, service: &'a str) -> Option<ChatText<'a>> {
    Some(match outcome {
        AttemptOutcome::Verified { .. } => ChatText::Verified { service },
        AttemptOutcome::Wrong { attempts_left: 0 } | AttemptOutcome::Locked => ChatText::NoAttemptsLeft,
        AttemptOutcome::Wrong { attempts_left } => ChatText::Wrong { attempts_left: *attempts_left },
        AttemptOutcome::Expired => ChatText::Expired,
        AttemptOutcome::AlreadyVerified => ChatText::AlreadyVerified,
        _ => return None,
    })
}

/// What the chat answers STOP, START or NOT ME, in the language of the number's last
/// request; `None` for a keyword already applied (Meta delivers messages more than once).
pub fn answer_to_keyword(word: Word, reply: &KeywordReply) -> Option<String> {
    match reply {
        KeywordReply::Duplicate
        | KeywordReply::Opted { acknowledge: false, .. }
        | KeywordReply::NotMe { acknowledge: false, .. } => None,
        KeywordReply::Opted { locale, .. } => {
            let text = if word == Word::Stop { ChatText::Stopped } else { ChatText::Started };
            Some(chat_text(locale.as_deref(), &text))
        }
        KeywordReply::NotMe { revoked, locale, .. } => {
            Some(chat_text(locale.as_deref(), &ChatText::NotMe { revoked: revoked.is_some() }))
        }
    }
}

pub fn chat_text(locale: Option<&str>, text: &ChatText) -> String {
    use ChatText as T;
    use Lang as L;
    let lang = Lang::of(locale);
    match (text, lang) {
        (T::Verified { service }, L::En) => format!(
            "\u{2705} Your number is verified: you are signing in to {service}. If this was not you, reply NOT ME."
        ),
        (T::Verified { service }, L::Es) => format!(
            "\u{2705} Tu número está verificado: estás iniciando sesión en {service}. Si no fuiste tú, responde NOT ME."
        ),
        (T::Verified { service }, L::Pt) => format!(
            "\u{2705} Seu número foi verificado: você está entrando em {service}. Se não foi você, responda NOT ME."
        ),
        (T::Verified { service }, L::De) => format!(
            "\u{2705} Deine Nummer ist bestätigt: Du meldest dich bei {service} an. Warst du das nicht, antworte NOT ME."
        ),
        (T::Verified { service }, L::Fr) => format!(
            "\u{2705} Votre numéro est vérifié : vous vous connectez à {service}. Si ce n'était pas vous, répondez NOT ME."
        ),
        (T::Verified { service }, L::Id) => format!(
            "\u{2705} Nomor Anda terverifikasi: Anda sedang masuk ke {service}. Jika ini bukan Anda, balas NOT ME."
        ),
        (T::Verified { service }, L::Hi) => format!(
            "\u{2705} आपका नंबर सत्यापित हो गया: आप {service} में साइन इन कर रहे हैं। अगर यह आप नहीं थे, तो NOT ME लिखकर जवाब दें।"
        ),
        (T::Verified { service }, L::Ar) => {
            format!("\u{2705} تم التحقق من رقمك: أنت تسجّل الدخول إلى {service}. إذا لم تكن أنت، فأرسل NOT ME.")
        }
        (T::Wrong { attempts_left }, lang) => wrong(lang, *attempts_left),
        (T::NoAttemptsLeft, L::En) => "That code is not correct, and no attempts are left. Please request a new code in the app.".into(),
        (T::NoAttemptsLeft, L::Es) => "Ese código no es correcto y no quedan intentos. Solicita un código nuevo en la app.".into(),
        (T::NoAttemptsLeft, L::Pt) => "Esse código não está correto e não restam tentativas. Peça um novo código no app.".into(),
        (T::NoAttemptsLeft, L::De) => "Dieser Code ist falsch, und es sind keine Versuche mehr übrig. Fordere in der App einen neuen Code an.".into(),
        (T::NoAttemptsLeft, L::Fr) => "Ce code est incorrect et il ne reste aucun essai. Demandez un nouveau code dans l'application.".into(),
        (T::NoAttemptsLeft, L::Id) => "Kode itu salah dan tidak ada percobaan tersisa. Minta kode baru di aplikasi.".into(),
        (T::NoAttemptsLeft, L::Hi) => "यह कोड सही नहीं है और कोई प्रयास बाकी नहीं है। कृपया ऐप में नया कोड मांगें।".into(),
        (T::NoAttemptsLeft, L::Ar) => "هذا الرمز غير صحيح ولم تتبقَّ محاولات. يُرجى طلب رمز جديد من التطبيق.".into(),
        (T::NoMatch, lang) => no_match(lang).into(),
        (T::Expired, L::En) => "That code has expired. Please request a new code in the app.".into(),
        (T::Expired, L::Es) => "Ese código ha caducado. Solicita un código nuevo en la app.".into(),
        (T::Expired, L::Pt) => "Esse código expirou. Peça um novo código no app.".into(),
        (T::Expired, L::De) => "Dieser Code ist abgelaufen. Fordere in der App einen neuen Code an.".into(),
        (T::Expired, L::Fr) => "Ce code a expiré. Demandez un nouveau code dans l'application.".into(),
        (T::Expired, L::Id) => "Kode itu sudah kedaluwarsa. Minta kode baru di aplikasi.".into(),
        (T::Expired, L::Hi) => "यह कोड समाप्त हो गया है। कृपया ऐप में नया कोड मांगें।".into(),
        (T::Expired, L::Ar) => "انتهت صلاحية هذا الرمز. يُرجى طلب رمز جديد من التطبيق.".into(),
        (T::AlreadyVerified, L::En) => "This number is already verified.".into(),
        (T::AlreadyVerified, L::Es) => "Este número ya está verificado.".into(),
        (T::AlreadyVerified, L::Pt) => "Este número já foi verificado.".into(),
        (T::AlreadyVerified, L::De) => "Diese Nummer ist bereits bestätigt.".into(),
        (T::AlreadyVerified, L::Fr) => "Ce numéro est déjà vérifié.".into(),
        (T::AlreadyVerified, L::Id) => "Nomor ini sudah terverifikasi.".into(),
        (T::AlreadyVerified, L::Hi) => "यह नंबर पहले ही सत्यापित है।".into(),
        (T::AlreadyVerified, L::Ar) => "تم التحقق من هذا الرقم بالفعل.".into(),
        (T::Stopped, L::En) => "You will no longer receive verification codes here. Reply START to receive them again.".into(),
        (T::Stopped, L::Es) => "Ya no recibirás códigos de verificación aquí. Responde START para volver a recibirlos.".into(),
        (T::Stopped, L::Pt) => "Você não receberá mais códigos de verificação aqui. Responda START para recebê-los novamente.".into(),
        (T::Stopped, L::De) => "Du erhältst hier keine Bestätigungscodes mehr. Antworte START, um sie wieder zu erhalten.".into(),
        (T::Stopped, L::Fr) => "Vous ne recevrez plus de codes de vérification ici. Répondez START pour les recevoir à nouveau.".into(),
        (T::Stopped, L::Id) => "Anda tidak akan menerima kode verifikasi di sini lagi. Balas START untuk menerimanya kembali.".into(),
        (T::Stopped, L::Hi) => "अब आपको यहाँ सत्यापन कोड नहीं मिलेंगे। उन्हें फिर से पाने के लिए START लिखकर जवाब दें।".into(),
        (T::Stopped, L::Ar) => "لن تتلقى رموز التحقق هنا بعد الآن. أرسل START لتلقيها مجددًا.".into(),
        (T::Started, L::En) => "You can receive verification codes here again. Reply STOP to opt out.".into(),
        (T::Started, L::Es) => "Puedes volver a recibir códigos de verificación aquí. Responde STOP para darte de baja.".into(),
        (T::Started, L::Pt) => "Você pode receber códigos de verificação aqui novamente. Responda STOP para cancelar.".into(),
        (T::Started, L::De) => "Du kannst hier wieder Bestätigungscodes erhalten. Antworte STOP, um dich abzumelden.".into(),
        (T::Started, L::Fr) => "Vous pouvez de nouveau recevoir des codes de vérification ici. Répondez STOP pour vous désabonner.".into(),
        (T::Started, L::Id) => "Anda dapat menerima kode verifikasi di sini lagi. Balas STOP untuk berhenti.".into(),
        (T::Started, L::Hi) => "अब आप यहाँ फिर से सत्यापन कोड पा सकते हैं। बंद करने के लिए STOP लिखकर जवाब दें।".into(),
        (T::Started, L::Ar) => "يمكنك تلقي رموز التحقق هنا مجددًا. أرسل STOP لإلغاء الاشتراك.".into(),
        (T::NotMe { revoked }, lang) => not_me(lang, *revoked),
    }
}

fn wrong(lang: Lang, left: u32) -> String {
    match lang {
        Lang::En => format!("That code is not correct. {left} attempt{} left.", if left == 1 { "" } else { "s" }),
        Lang::Es => format!("Ese código no es correcto. Te quedan {left} intento{}.", if left == 1 { "" } else { "s" }),
        Lang::Pt => {
            format!("Esse código não está correto. Restam {left} tentativa{}.", if left == 1 { "" } else { "s" })
        }
        Lang::De => format!("Dieser Code ist falsch. Noch {left} Versuch{}.", if left == 1 { "" } else { "e" }),
        Lang::Fr => format!("Ce code est incorrect. Il reste {left} essai{}.", if left == 1 { "" } else { "s" }),
        Lang::Id => format!("Kode itu salah. Sisa {left} percobaan."),
        Lang::Hi => format!("यह कोड सही नहीं है। {left} प्रयास बाकी हैं।"),
        Lang::Ar => format!("هذا الرمز غير صحيح. المحاولات المتبقية: {left}."),
    }
}

fn no_match(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "That code is not correct.",
        Lang::Es => "Ese código no es correcto.",
        Lang::Pt => "Esse código não está correto.",
        Lang::De => "Dieser Code ist falsch.",
        Lang::Fr => "Ce code est incorrect.",
        Lang::Id => "Kode itu salah.",
        Lang::Hi => "यह कोड सही नहीं है।",
        Lang::Ar => "هذا الرمز غير صحيح.",
    }
}

fn not_me(lang: Lang, revoked: bool) -> String {
    let (done, blocked) = match lang {
        Lang::En => {
            ("Thank you: that sign-in was cancelled.", "No new codes will be sent to this number for 24 hours.")
        }
        Lang::Es => (
            "Gracias: ese inicio de sesión se canceló.",
            "No se enviarán códigos nuevos a este número durante 24 horas.",
        ),
        Lang::Pt => {
            ("Obrigado: esse acesso foi cancelado.", "Nenhum código novo será enviado a este número por 24 horas.")
        }
        Lang::De => (
            "Danke: Diese Anmeldung wurde widerrufen.",
            "An diese Nummer werden 24 Stunden lang keine neuen Codes gesendet.",
        ),
        Lang::Fr => (
            "Merci : cette connexion a été annulée.",
            "Aucun nouveau code ne sera envoyé à ce numéro pendant 24 heures.",
        ),
        Lang::Id => (
            "Terima kasih: proses masuk itu dibatalkan.",
            "Tidak ada kode baru yang dikirim ke nomor ini selama 24 jam.",
        ),
        Lang::Hi => ("धन्यवाद: वह साइन-इन रद्द कर दिया गया।", "अगले 24 घंटे तक इस नंबर पर कोई नया कोड नहीं भेजा जाएगा।"),
        Lang::Ar => ("شكرًا لك: تم إلغاء تسجيل الدخول هذا.", "لن تُرسل رموز جديدة إلى هذا الرقم لمدة 24 ساعة."),
    };
    if revoked {
        format!("{done} {blocked}")
    } else {
        blocked.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [&str; 8] = ["en_US", "es", "pt_BR", "de_DE", "fr_FR", "id", "hi_IN", "ar_EG"];

    fn every_text() -> Vec<ChatText<'static>> {
        vec![
            ChatText::Verified { service: "Acme" },
            ChatText::Wrong { attempts_left: 2 },
            ChatText::NoAttemptsLeft,
            ChatText::NoMatch,
            ChatText::Expired,
            ChatText::AlreadyVerified,
            ChatText::Stopped,
            ChatText::Started,
            ChatText::NotMe { revoked: true },
        ]
    }

    #[test]
    fn every_language_has_every_text_and_they_differ() {
        for text in every_text() {
            let versions: Vec<String> = ALL.iter().map(|l| chat_text(Some(l), &text)).collect();
            let mut distinct = versions.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), ALL.len(), "{text:?}: {versions:?}");
        }
    }

    #[test]
    fn unknown_languages_get_english() {
        let english = chat_text(Some("en_US"), &ChatText::Expired);
        assert_eq!(chat_text(Some("ja_JP"), &ChatText::Expired), english);
        assert_eq!(chat_text(None, &ChatText::Expired), english);
        assert_eq!(Lang::of(Some("PT-br")), Lang::Pt);
    }

    #[test]
    fn confirmations_name_the_service_and_offer_not_me() {
        for locale in ALL {
            let text = chat_text(Some(locale), &ChatText::Verified { service: "Acme Bank" });
            assert!(text.contains("Acme Bank") && text.contains("NOT ME"), "{text}");
        }
        assert!(chat_text(Some("ar"), &ChatText::Stopped).contains("START"));
    }

    #[test]
    fn arabic_and_hindi_survive_as_written() {
        let arabic = chat_text(Some("ar"), &ChatText::Expired);
        assert!(arabic.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)));
        let json = serde_json::to_string(&arabic).unwrap();
        assert_eq!(serde_json::from_str::<String>(&json).unwrap(), arabic);
        assert!(chat_text(Some("hi"), &ChatText::Expired).chars().any(|c| ('\u{0900}'..='\u{097F}').contains(&c)));
    }

    #[test]
    fn attempts_are_answered_by_outcome() {
        use crate::core::guard::VerifiedVia;
        let verified = AttemptOutcome::Verified { at_ms: 1, via: VerifiedVia::Reply };
        assert_eq!(answer_to_attempt(&verified, "Acme"), Some(ChatText::Verified { service: "Acme" }));
        assert_eq!(answer_to_attempt(&AttemptOutcome::Wrong { attempts_left: 0 }, "A"), Some(ChatText::NoAttemptsLeft));
        assert_eq!(answer_to_attempt(&AttemptOutcome::Locked, "A"), Some(ChatText::NoAttemptsLeft));
        assert_eq!(
            answer_to_attempt(&AttemptOutcome::Wrong { attempts_left: 2 }, "A"),
            Some(ChatText::Wrong { attempts_left: 2 })
        );
        assert_eq!(answer_to_attempt(&AttemptOutcome::Expired, "A"), Some(ChatText::Expired));
        assert_eq!(answer_to_attempt(&AttemptOutcome::AlreadyVerified, "A"), Some(ChatText::AlreadyVerified));
        for silent in [AttemptOutcome::Duplicate, AttemptOutcome::TooOld, AttemptOutcome::NotFound] {
            assert_eq!(answer_to_attempt(&silent, "A"), None, "{silent:?}");
        }
    }

    #[test]
    fn keywords_are_answered_in_the_last_requests_language() {
        let stopped = KeywordReply::Opted { changed: true, locale: Some("es".into()), acknowledge: true };
        assert_eq!(answer_to_keyword(Word::Stop, &stopped), Some(chat_text(Some("es"), &ChatText::Stopped)));
        assert_eq!(answer_to_keyword(Word::Start, &stopped), Some(chat_text(Some("es"), &ChatText::Started)));
        let not_me = KeywordReply::NotMe { revoked: Some("otp_x".into()), locale: None, acknowledge: true };
        assert_eq!(answer_to_keyword(Word::NotMe, &not_me), Some(chat_text(None, &ChatText::NotMe { revoked: true })));
        assert_eq!(answer_to_keyword(Word::Stop, &KeywordReply::Duplicate), None);
        // Applied, but the chat already acknowledged a keyword this minute.
        let quiet = KeywordReply::Opted { changed: true, locale: None, acknowledge: false };
        assert_eq!(answer_to_keyword(Word::Stop, &quiet), None);
        let quiet = KeywordReply::NotMe { revoked: None, locale: None, acknowledge: false };
        assert_eq!(answer_to_keyword(Word::NotMe, &quiet), None);
    }
}
