//! Free text typed by a person: names, labels, notes.
//!
//! Every name a person types (a customer, a contact, a station, a staff user, a rule, a
//! tier, a coupon template, a catalogue item, a promotion, a vehicle's model and colour)
//! passes [`one_line_label`]; longer free text (notes, reasons, addresses) passes
//! [`multi_line_text`]. Both refuse NUL, which some tools and databases cut text at, and
//! the Unicode bidirectional controls, which let a name display differently from what it
//! is (U+202E followed by `gnp.exe` reads as `exe.png`) on every screen and export that shows it. A one-line
//! label also refuses every other control character: a tab or line break in a name breaks
//! CSV exports, receipts and audit lines, and is never what the person meant.

use crate::error::DomainError;

/// The characters that change the direction of the text after them: the embeddings and
/// overrides (U+202A–U+202E), the isolates (U+2066–U+2069) and the implicit marks
/// (U+200E, U+200F, U+061C).
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

/// Describes the first character a one-line label may not hold, if any.
fn one_line_refusal(s: &str) -> Option<String> {
    s.chars().find_map(|c| {
        if c == '\0' {
            Some("may not contain the NUL character (U+0000)".to_string())
        } else if is_bidi_control(c) {
            Some(format!(
                "may not contain the bidirectional control character U+{:04X}",
                c as u32
            ))
        } else if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            // `char::is_control` is exactly the Unicode category Cc (C0, DEL and C1);
            // the line and paragraph separators break a line just the same.
            Some(format!(
                "is one line and may not contain the control character U+{:04X}",
                c as u32
            ))
        } else {
            None
        }
    })
}

/// Describes the first character multi-line text may not hold, if any: line breaks and
/// tabs are allowed, other control characters are not.
fn multi_line_refusal(s: &str) -> Option<String> {
    s.chars().find_map(|c| {
        if c == '\0' {
            Some("may not contain the NUL character (U+0000)".to_string())
        } else if is_bidi_control(c) {
            Some(format!(
                "may not contain the bidirectional control character U+{:04X}",
                c as u32
            ))
        } else if c.is_control() && !matches!(c, '\n' | '\r' | '\t') {
            Some(format!(
                "may not contain the control character U+{:04X}",
                c as u32
            ))
        } else {
            None
        }
    })
}

fn checked(
    field: &'static str,
    value: &str,
    max_chars: usize,
    refusal: fn(&str) -> Option<String>,
) -> Result<String, DomainError> {
    let t = value.trim();
    if t.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    // Characters, not bytes: a Chinese name of 100 characters is 300 bytes.
    if t.chars().count() > max_chars {
        return Err(DomainError::invalid(
            field,
            format!("at most {max_chars} characters"),
        ));
    }
    if let Some(why) = refusal(t) {
        return Err(DomainError::invalid(field, why));
    }
    Ok(t.to_string())
}

/// A one-line label (a name): trimmed, 1 to `max_chars` characters, with no control
/// character (Unicode category Cc, so no tab or line break), no line or paragraph
/// separator and no bidirectional control. Apostrophes, middle dots and any letters are
/// fine.
pub fn one_line_label(
    field: &'static str,
    value: &str,
    max_chars: usize,
) -> Result<String, DomainError> {
    checked(field, value, max_chars, one_line_refusal)
}

/// Multi-line free text (a note, a reason, an address): trimmed, 1 to `max_chars`
/// characters; line breaks and tabs are kept, NUL, other control characters and
/// bidirectional controls are refused.
pub fn multi_line_text(
    field: &'static str,
    value: &str,
    max_chars: usize,
) -> Result<String, DomainError> {
    checked(field, value, max_chars, multi_line_refusal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_names_are_accepted_and_trimmed() {
        for name in [
            "阿卜杜·热合曼",
            "O'Brien",
            "Anne-Marie d'Arc",
            "  王小明 ",
            "شركة النفط",
            "Zoë Ångström",
        ] {
            assert_eq!(
                one_line_label("name", name, 100).unwrap(),
                name.trim(),
                "{name:?}"
            );
            assert_eq!(multi_line_text("notes", name, 100).unwrap(), name.trim());
        }
    }

    #[test]
    fn the_table_of_refusals() {
        // (input, refused as a label, refused as multi-line text)
        let table: &[(&str, bool, bool)] = &[
            ("a\u{0}b", true, true),
            ("gnp\u{202E}.exe", true, true),
            ("a\u{202A}b", true, true),
            ("a\u{2066}b", true, true),
            ("a\u{2069}b", true, true),
            ("a\u{200E}b", true, true),
            ("a\u{200F}b", true, true),
            ("a\u{061C}b", true, true),
            ("first\nsecond", true, false),
            ("first\r\nsecond", true, false),
            ("a\tb", true, false),
            ("a\u{7}b", true, true),
            ("a\u{1B}[31mb", true, true),
            ("a\u{7F}b", true, true),
            // NEL (U+0085) is a C1 control: multi-line text keeps only CR, LF and tab.
            ("a\u{85}b", true, true),
            ("a\u{2028}b", true, false),
            ("plain", false, false),
        ];
        for &(input, label, multi) in table {
            assert_eq!(
                one_line_label("name", input, 100).is_err(),
                label,
                "label {input:?}"
            );
            assert_eq!(
                multi_line_text("notes", input, 100).is_err(),
                multi,
                "multi-line {input:?}"
            );
        }
    }

    #[test]
    fn messages_name_the_field_and_the_character() {
        let e = one_line_label("contacts.name", "x\u{202E}y", 100).unwrap_err();
        assert_eq!(
            e.to_string(),
            "contacts.name: may not contain the bidirectional control character U+202E"
        );
        let e = one_line_label("name", "   ", 100).unwrap_err();
        assert_eq!(e.to_string(), "name: must not be empty");
        let e = one_line_label("name", &"字".repeat(101), 100).unwrap_err();
        assert_eq!(e.to_string(), "name: at most 100 characters");
        assert!(one_line_label("name", &"字".repeat(100), 100).is_ok());
    }

    proptest! {
        #[test]
        fn an_accepted_label_has_no_forbidden_character(s in "\\PC*") {
            let with_controls = format!("{s}\u{202E}{s}");
            prop_assert!(one_line_label("name", &with_controls, 1000).is_err());
            if let Ok(t) = one_line_label("name", &s, 1000) {
                prop_assert!(!t.chars().any(|c| c.is_control() || is_bidi_control(c)));
                prop_assert_eq!(t.as_str(), s.trim());
            }
        }

        #[test]
        fn any_string_holding_a_bidi_control_or_nul_is_refused_everywhere(
            a in ".{0,20}",
            b in ".{0,20}",
            c in prop::sample::select(vec!['\0', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}',
                '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{200E}',
                '\u{200F}', '\u{061C}']),
        ) {
            let s = format!("x{a}{c}{b}x");
            prop_assert!(one_line_label("name", &s, 1000).is_err());
            prop_assert!(multi_line_text("notes", &s, 1000).is_err());
        }
    }
}
