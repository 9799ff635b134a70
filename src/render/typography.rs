//! French typography for every text a citizen reads: a non-breaking space before « : » and
//! after « and before », a narrow one before ; ! ?, so a line never starts with a colon; and
//! one after « art. » and « n° », so an article number stays with its word.

/// No-break space (U+00A0), before a colon and inside guillemets.
pub const NBSP: char = '\u{a0}';
/// Narrow no-break space (U+202F), before ; ! ?.
pub const NNBSP: char = '\u{202f}';

/// `text` with the spaces around French punctuation made non-breaking. Only existing spaces
/// change: `https://` or `10:30` stay as they are.
pub fn french(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    let mut previous = None;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let replaced = match (previous, c, next) {
            (_, ' ', Some(':' | '»')) => NBSP,
            (_, ' ', Some(';' | '!' | '?')) => NNBSP,
            (Some('«'), ' ', _) => NBSP,
            (_, ' ', _) if out.ends_with("art.") || out.ends_with("n°") => NBSP,
            _ => c,
        };
        out.push(replaced);
        previous = Some(c);
    }
    out
}

/// `text` with its first letter in lower case, to follow a colon or an article: « Destruction »
/// → « destruction ». Acronyms (« CNIL », « BCR ») stay as they are.
pub fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if !chars.clone().next().is_some_and(char::is_uppercase) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_owned(),
    }
}

/// `text` with its first letter in upper case, to start a list item.
pub fn uppercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A recording time as a person reads it: « 7 décembre 2026 à 16 h 25 (UTC) ».
pub fn moment(at: &str) -> String {
    const MONTHS: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    let Ok(time) = at.parse::<jiff::Timestamp>() else {
        return at.to_owned();
    };
    let utc = jiff::tz::TimeZone::UTC.to_datetime(time);
    let month = MONTHS[usize::try_from(utc.month() - 1).unwrap_or(0)];
    format!(
        "{}{} {month} {} à {} h {:02} (UTC)",
        utc.day(),
        if utc.day() == 1 { "er" } else { "" },
        utc.year(),
        utc.hour(),
        utc.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_before_french_punctuation_do_not_break() {
        assert_eq!(
            french("Contact : « DPO » ; vite ! non ?"),
            "Contact\u{a0}: «\u{a0}DPO\u{a0}»\u{202f}; vite\u{202f}! non\u{202f}?"
        );
        assert_eq!(french("https://x.fr à 10:30"), "https://x.fr à 10:30");
        assert_eq!(
            french("RGPD, art. 6.1.e ; décret n° 2017"),
            "RGPD, art.\u{a0}6.1.e\u{202f}; décret n°\u{a0}2017"
        );
        assert_eq!(french(""), "");
    }
}
