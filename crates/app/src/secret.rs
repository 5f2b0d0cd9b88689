//! Keyed hashing: card PINs (HMAC under the server secret, since a 6-digit PIN cannot be
//! protected by a slow hash alone), API tokens (SHA-256 of 256 random bits), and staff
//! passwords (argon2id).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;

/// The server secret. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret([u8; 32]);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(hex_str: &str) -> anyhow::Result<Self> {
        let bytes = hex::decode(hex_str.trim())
            .map_err(|_| anyhow::anyhow!("the secret is 64 hex digits"))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("the secret is 64 hex digits"))?;
        Ok(Self(arr))
    }

    /// Reads the secret from a file, creating it (mode 0600) with a random secret when it
    /// does not exist.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        if path.exists() {
            return Self::from_hex(&std::fs::read_to_string(path)?);
        }
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        write_private(path, &hex::encode(bytes))?;
        tracing::warn!(path = %path.display(), "created a new server secret; keep it with the database");
        Ok(Self(bytes))
    }

    /// HMAC-SHA256 under the secret of length-free parts (callers keep them unambiguous
    /// with a separator or a fixed prefix).
    fn mac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        for p in parts {
            mac.update(p);
        }
        mac
    }

    /// Constant-time comparison of a hex MAC with the MAC of `parts`.
    fn mac_matches(&self, parts: &[&[u8]], sent_hex: &str) -> bool {
        let Ok(sent) = hex::decode(sent_hex) else {
            return false;
        };
        self.mac(parts).verify_slice(&sent).is_ok()
    }

    /// HMAC-SHA256 of a card's PIN, bound to the card so equal PINs hash differently.
    pub fn pin_hash(&self, card_id: &str, pin: &str) -> String {
        hex::encode(
            self.mac(&[card_id.as_bytes(), b":", pin.as_bytes()])
                .finalize()
                .into_bytes(),
        )
    }

    /// Constant-time comparison of a PIN with its stored hash.
    pub fn pin_matches(&self, card_id: &str, pin: &str, stored_hex: &str) -> bool {
        self.mac_matches(&[card_id.as_bytes(), b":", pin.as_bytes()], stored_hex)
    }

    /// A fingerprint of the secret, stored in the database so that a server started
    /// with another secret (a lost key file) is refused instead of locking every PIN card.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.mac(&[b"fingerprint"]).finalize().into_bytes()[..16])
    }

    /// The CSRF token of a console session: a MAC of the session token, so the server
    /// keeps no extra state and a token from another session never matches.
    pub fn csrf_token(&self, session_token: &str) -> String {
        hex::encode(
            self.mac(&[b"csrf:", session_token.as_bytes()])
                .finalize()
                .into_bytes(),
        )
    }

    pub fn csrf_matches(&self, session_token: &str, sent: &str) -> bool {
        self.mac_matches(&[b"csrf:", session_token.as_bytes()], sent)
    }

    /// The unsubscribe token of a member on a channel: `{customer_id}.{channel}.{mac}`,
    /// the MAC (128 bits of HMAC-SHA256 under the secret) binding the two, so that
    /// nobody can make one for another member or channel.
    pub fn unsubscribe_token(&self, customer_id: &str, channel: &str) -> String {
        let mac = self
            .mac(&[
                b"unsubscribe:",
                customer_id.as_bytes(),
                b":",
                channel.as_bytes(),
            ])
            .finalize()
            .into_bytes();
        format!("{customer_id}.{channel}.{}", hex::encode(&mac[..16]))
    }

    /// The member and channel of a genuine unsubscribe token.
    pub fn unsubscribe_parse(&self, token: &str) -> Option<(String, String)> {
        let (rest, sent) = token.rsplit_once('.')?;
        let (customer_id, channel) = rest.rsplit_once('.')?;
        if sent.len() != 32 || customer_id.is_empty() {
            return None;
        }
        let genuine = self.unsubscribe_token(customer_id, channel);
        // Constant-time: compare the MACs as bytes.
        let (Ok(a), Ok(b)) = (
            hex::decode(sent),
            hex::decode(&genuine[genuine.len() - 32..]),
        ) else {
            return None;
        };
        let same = a.len() == b.len() && a.iter().zip(&b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0;
        same.then(|| (customer_id.to_string(), channel.to_string()))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}

/// A PIN is 6 digits.
pub fn valid_pin(pin: &str) -> bool {
    pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit())
}

/// A new bearer token with a prefix that says what it is for (`fcs_` staff, `fcp_` POS).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// Tokens are 256 random bits, so a fast hash is enough to store them.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Password rules for staff: at least 10 characters, with letters and digits.
pub fn check_password_rules(password: &str) -> Result<(), String> {
    if password.chars().count() < 10 {
        return Err("a password has at least 10 characters".into());
    }
    if password.chars().count() > 200 {
        return Err("a password has at most 200 characters".into());
    }
    if !password.chars().any(|c| c.is_alphabetic()) || !password.chars().any(|c| c.is_ascii_digit())
    {
        return Err("a password has letters and digits".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_keyed_and_bound_to_the_card() {
        let a = Secret::from_bytes([1; 32]);
        let b = Secret::from_bytes([2; 32]);
        let h = a.pin_hash("card-1", "123456");
        assert!(a.pin_matches("card-1", "123456", &h));
        assert!(!a.pin_matches("card-1", "123457", &h));
        assert!(
            !a.pin_matches("card-2", "123456", &h),
            "the same PIN on another card hashes differently"
        );
        assert!(
            !b.pin_matches("card-1", "123456", &h),
            "another secret does not verify"
        );
        assert!(!format!("{a:?}").contains("01"));
    }

    #[test]
    fn passwords() {
        let h = hash_password("Correct-horse-42").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("Correct-horse-42", &h));
        assert!(!verify_password("wrong", &h));
        assert!(check_password_rules("short1").is_err());
        assert!(check_password_rules("longenoughbutnodigits").is_err());
        assert!(check_password_rules("Contract-pass-1234").is_ok());
    }

    #[test]
    fn pin_shape() {
        assert!(valid_pin("012345"));
        assert!(!valid_pin("12345"));
        assert!(!valid_pin("12345a"));
    }
}
