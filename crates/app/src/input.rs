//! The rules for text people type, the same at every door (API, console, import).

use crate::error::AppResult;

/// The longest name of a person, company or station.
pub const NAME_CHARS_MAX: usize = 100;

/// A one-line name or label a person typed: trimmed, 1 to `max` characters, no control
/// or bidirectional control character (see `forecourt_core::text`). Every name the API
/// and the console take passes here, so that the rule is the same everywhere.
pub fn text(field: &'static str, s: &str, max: usize) -> AppResult<String> {
    Ok(forecourt_core::text::one_line_label(field, s, max)?)
}

pub fn opt_text(field: &'static str, s: &Option<String>, max: usize) -> AppResult<Option<String>> {
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => text(field, t, max).map(Some),
    }
}

/// Free text that may span lines (a note, a reason): line breaks and tabs are kept, NUL,
/// other control characters and bidirectional controls are refused.
pub fn long_text(field: &'static str, s: &str, max: usize) -> AppResult<String> {
    Ok(forecourt_core::text::multi_line_text(field, s, max)?)
}

pub fn opt_long_text(
    field: &'static str,
    s: &Option<String>,
    max: usize,
) -> AppResult<Option<String>> {
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => long_text(field, t, max).map(Some),
    }
}
