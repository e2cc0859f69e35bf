//! The chat keywords a person may send instead of a code.

use crate::core::guard::protocol::Word;

/// `STOP`/`UNSUBSCRIBE`, `START`, and `NOT ME`, ignoring case and spacing.
pub fn keyword(text: &str) -> Option<Word> {
    let squeezed: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '!' | '.'))
        .collect::<String>()
        .to_ascii_uppercase();
    match squeezed.as_str() {
        "STOP" | "UNSUBSCRIBE" => Some(Word::Stop),
        "START" => Some(Word::Start),
        "NOTME" => Some(Word::NotMe),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords() {
        assert_eq!(keyword("STOP"), Some(Word::Stop));
        assert_eq!(keyword("  s t o p \n"), Some(Word::Stop));
        assert_eq!(keyword("Unsubscribe"), Some(Word::Stop));
        assert_eq!(keyword("start"), Some(Word::Start));
        assert_eq!(keyword("NOT ME"), Some(Word::NotMe));
        assert_eq!(keyword("not me!"), Some(Word::NotMe));
        assert_eq!(keyword("please stop"), None);
        assert_eq!(keyword("123456"), None);
    }
}
