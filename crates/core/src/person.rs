//! Personal identifiers that arrive as text: mobile phone numbers and licence plates.

use crate::DomainError;

/// A mainland China mobile number: 11 digits starting with 1. A leading `+86` or `86`
/// and spaces or dashes are accepted and removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let mut digits: String = input
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        if let Some(rest) = digits.strip_prefix("+86") {
            digits = rest.to_string();
        } else if digits.len() == 13 && digits.starts_with("86") {
            digits = digits[2..].to_string();
        }
        let ok = digits.len() == 11
            && digits.starts_with('1')
            && digits.bytes().all(|b| b.is_ascii_digit())
            && matches!(digits.as_bytes()[1], b'3'..=b'9');
        if !ok {
            return Err(DomainError::invalid(
                "phone",
                "a mobile number has 11 digits and starts with 13 to 19",
            ));
        }
        Ok(Self(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `139****5678`.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

/// Masks any phone-like string, keeping the first three and last four characters.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// A Chinese licence plate: a province character, a letter, then five (ordinary) or six
/// (new-energy) letters or digits. Stored upper-case without separators.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Plate(String);

const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领";

impl Plate {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let cleaned: String = input
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '·' | '.'))
            .flat_map(char::to_uppercase)
            .collect();
        let mut chars = cleaned.chars();
        let province = chars.next();
        let letter = chars.next();
        let rest: Vec<char> = chars.collect();
        let ok = province.is_some_and(|p| PROVINCES.contains(p))
            && letter.is_some_and(|l| l.is_ascii_uppercase())
            && (rest.len() == 5 || rest.len() == 6)
            && rest.iter().enumerate().all(|(i, c)| {
                c.is_ascii_uppercase()
                    || c.is_ascii_digit()
                    || (i == rest.len() - 1 && matches!(c, '挂' | '学' | '警' | '港' | '澳'))
            });
        if !ok {
            return Err(DomainError::invalid(
                "plate",
                "a plate is a province character, a letter and 5 or 6 letters or digits (e.g. 京A12345)",
            ));
        }
        Ok(Self(cleaned))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The province character, used by province rules on cards.
    pub fn province(&self) -> char {
        self.0.chars().next().unwrap_or('?')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        assert_eq!(
            Phone::parse("139 1234 5678").unwrap().as_str(),
            "13912345678"
        );
        assert_eq!(
            Phone::parse("+8613912345678").unwrap().as_str(),
            "13912345678"
        );
        assert_eq!(Phone::parse("13912345678").unwrap().masked(), "139****5678");
        assert!(Phone::parse("12912345678").is_err());
        assert!(Phone::parse("1391234567").is_err());
        assert!(Phone::parse("abc").is_err());
    }

    #[test]
    fn plates() {
        assert_eq!(Plate::parse("京a 12345").unwrap().as_str(), "京A12345");
        assert_eq!(Plate::parse("粤B·D12345").unwrap().as_str(), "粤BD12345");
        assert_eq!(Plate::parse("沪A1234挂").unwrap().province(), '沪');
        assert!(Plate::parse("XA12345").is_err());
        assert!(Plate::parse("京A123").is_err());
    }
}
