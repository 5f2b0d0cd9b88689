//! Mainland resident ID numbers (GB 11643-1999): 6-digit region code, 8-digit birth
//! date, 3-digit sequence, and an ISO 7064 MOD 11-2 check character.

/// Why a text is not a valid resident ID number. Never carries the number itself, so the
/// error can be logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("an ID number has 18 characters, this one has {0}")]
    Length(usize),
    #[error("an ID number is 17 digits followed by a digit or X")]
    Characters,
    #[error("the birth date in an ID number (characters 7 to 14, YYYYMMDD) does not exist")]
    BirthDate,
    #[error("the check character of the ID number is wrong (mistyped?)")]
    CheckDigit,
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// Validates a mainland resident ID number (GB 11643-1999): 18 characters, the first 17
/// digits, a valid birth date in positions 7-14 (YYYYMMDD; a date in the future is not
/// refused, but the month and day must exist), and the ISO 7064 MOD 11-2 check character
/// (0-9 or X, lower-case x accepted). Surrounding whitespace is ignored. Returns the
/// normalised (upper-case) number.
pub fn parse_id_number(s: &str) -> Result<String, IdNumberError> {
    let id = s.trim().to_ascii_uppercase();
    let len = id.chars().count();
    if len != 18 {
        return Err(IdNumberError::Length(len));
    }
    // 18 characters but more bytes means a non-ASCII character.
    let b = id.as_bytes();
    if b.len() != 18
        || !b[..17].iter().all(u8::is_ascii_digit)
        || !(b[17].is_ascii_digit() || b[17] == b'X')
    {
        return Err(IdNumberError::Characters);
    }
    let (year, month, day) = (number(&b[6..10]), number(&b[10..12]), number(&b[12..14]));
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(IdNumberError::BirthDate);
    }
    if check_char(&b[..17]) != b[17] {
        return Err(IdNumberError::CheckDigit);
    }
    Ok(id)
}

/// Masks an ID number for display: first 6 and last 4 kept, e.g. `110101********1234`.
/// Text too short to keep 10 characters and still hide something is masked entirely.
pub fn mask_id_number(s: &str) -> String {
    let chars: Vec<char> = s.trim().chars().collect();
    let n = chars.len();
    if n <= 10 {
        return "*".repeat(n);
    }
    let middle = "*".repeat(n - 10);
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[n - 4..].iter().collect();
    format!("{head}{middle}{tail}")
}

/// ISO 7064 MOD 11-2 over the first 17 digits.
fn check_char(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK_CHARS[(sum % 11) as usize]
}

fn number(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Completes 17 digits with their check character, computed here independently
    /// (weights 2^(17-i) mod 11), so date tests fail on the date alone.
    fn with_check(body: &str) -> String {
        let sum: u64 = body
            .bytes()
            .enumerate()
            .map(|(i, d)| u64::from(d - b'0') * ((1u64 << (17 - i)) % 11))
            .sum();
        let check = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'][(sum % 11) as usize];
        format!("{body}{check}")
    }

    #[test]
    fn known_valid_numbers() {
        // Check characters computed by hand with the GB 11643 weights.
        assert_eq!(
            parse_id_number("11010519491231002X").unwrap(),
            "11010519491231002X"
        );
        assert_eq!(
            parse_id_number("11010519491231002x").unwrap(),
            "11010519491231002X"
        );
        assert_eq!(
            parse_id_number(" 110101199003074477\n").unwrap(),
            "110101199003074477"
        );
        assert_eq!(with_check("11010519491231002"), "11010519491231002X");
        assert_eq!(with_check("11010119900307447"), "110101199003074477");
    }

    #[test]
    fn every_wrong_check_character_is_refused() {
        for c in "0123456789X".chars().filter(|c| *c != '7') {
            let id = format!("11010119900307447{c}");
            assert_eq!(parse_id_number(&id), Err(IdNumberError::CheckDigit), "{id}");
        }
        // A single mistyped digit changes the check character.
        assert_eq!(
            parse_id_number("110101199003074487"),
            Err(IdNumberError::CheckDigit)
        );
    }

    #[test]
    fn birth_dates_must_exist() {
        for date in [
            "19901301", "19900001", "19900100", "19900230", "19000229", "19900431", "19901232",
        ] {
            let id = with_check(&format!("110101{date}123"));
            assert_eq!(parse_id_number(&id), Err(IdNumberError::BirthDate), "{id}");
        }
        for date in ["20000229", "19960229", "19901231", "19900131", "20991231"] {
            let id = with_check(&format!("110101{date}123"));
            assert_eq!(parse_id_number(&id).unwrap(), id);
        }
    }

    #[test]
    fn length_and_characters() {
        assert_eq!(parse_id_number(""), Err(IdNumberError::Length(0)));
        assert_eq!(
            parse_id_number("11010119900307447"),
            Err(IdNumberError::Length(17))
        );
        assert_eq!(
            parse_id_number("1101011990030744771"),
            Err(IdNumberError::Length(19))
        );
        // The old 15-digit numbers are not accepted.
        assert_eq!(
            parse_id_number("110101900307447"),
            Err(IdNumberError::Length(15))
        );
        for id in [
            "11010119900307447A",
            "1101011990030744X7",
            "A10101199003074477",
            "110101 99003074477",
            "11010119900307447７", // full-width digit: 18 characters, 20 bytes
            "一10101199003074477",
        ] {
            assert_eq!(parse_id_number(id), Err(IdNumberError::Characters), "{id}");
        }
    }

    #[test]
    fn error_messages_are_clear() {
        assert_eq!(
            IdNumberError::Length(17).to_string(),
            "an ID number has 18 characters, this one has 17"
        );
        assert!(IdNumberError::CheckDigit
            .to_string()
            .contains("check character"));
        assert!(IdNumberError::BirthDate.to_string().contains("birth date"));
    }

    #[test]
    fn masking() {
        assert_eq!(mask_id_number("110101199003071234"), "110101********1234");
        assert_eq!(mask_id_number("11010519491231002X"), "110105********002X");
        assert_eq!(mask_id_number("110101900307447"), "110101*****7447");
        assert_eq!(mask_id_number("1234567890"), "**********");
        assert_eq!(mask_id_number(""), "");
        assert_eq!(
            mask_id_number("一二三四五六七八九十甲乙"),
            "一二三四五六**九十甲乙"
        );
    }
}
