//! The vault: field encryption under versioned keys, and keyed blind indexes.
//!
//! Key material is a small text file, so that an operator can read which versions exist,
//! back it up and rotate it without tools:
//!
//! ```text
//! # comment
//! index:<64 hex>
//! v1:<64 hex>
//! v2:<64 hex>
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// A 256-bit key, wiped from memory when dropped.
type Key = Zeroizing<[u8; 32]>;

/// XChaCha20's 192-bit nonce: long enough that random nonces never repeat in practice,
/// so no nonce counter has to be stored or coordinated between servers.
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Blind indexes keep 128 bits of the HMAC: collisions between distinct values stay
/// negligible, and the column stays short to store and index.
const INDEX_HEX_LEN: usize = 32;

const HEADER: &str = "# Forecourt personal-data keys (forecourt-privacy). Secret: never commit, \
share or log this file. Back it up with the database: encrypted fields cannot be read without it.\n";

/// Encryption keys by version, the current (highest) version, and the blind-index key.
///
/// Its `Debug` shows the versions only, never key bytes.
#[derive(Clone)]
pub struct Vault {
    keys: BTreeMap<u32, Key>,
    current: u32,
    index_key: Key,
}

/// Why key material could not be used or a ciphertext could not be decrypted. No
/// variant ever carries key bytes or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("malformed key material: {0}")]
    KeyMaterial(String),
    #[error(
        "unknown key version v{0}: the ciphertext was written with a key this vault does not have"
    )]
    UnknownVersion(u32),
    #[error("decryption failed: the ciphertext was altered, or the key or the aad is wrong")]
    Decryption,
    #[error("malformed ciphertext: expected v<N>.<base64url>")]
    MalformedCiphertext,
    #[error("key file: {0}")]
    Io(#[from] std::io::Error),
}

impl Vault {
    /// Parses key material text: lines `index:<64 hex>` (exactly one) and
    /// `v<N>:<64 hex>` (one or more, N >= 1); blank lines and lines starting with '#'
    /// are ignored. The highest version encrypts; all versions decrypt.
    ///
    /// Errors name the offending line number but never quote the line, since it holds a key.
    pub fn from_key_material(text: &str) -> Result<Vault, VaultError> {
        let bad = |line: usize, what: &str| VaultError::KeyMaterial(format!("line {line}: {what}"));
        let mut index_key = None;
        let mut keys = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((label, key_hex)) = line.split_once(':') else {
                return Err(bad(n, "expected `index:<64 hex>` or `v<N>:<64 hex>`"));
            };
            let key = parse_key(key_hex.trim()).ok_or_else(|| bad(n, "a key is 64 hex digits"))?;
            if label == "index" {
                if index_key.replace(key).is_some() {
                    return Err(bad(n, "a second index key"));
                }
            } else {
                let version = label
                    .strip_prefix('v')
                    .and_then(parse_version)
                    .filter(|v| *v >= 1)
                    .ok_or_else(|| bad(n, "expected `index` or a version v1, v2, …"))?;
                if keys.insert(version, key).is_some() {
                    return Err(bad(n, &format!("v{version} appears twice")));
                }
            }
        }
        let index_key =
            index_key.ok_or_else(|| VaultError::KeyMaterial("no `index:` line".into()))?;
        let current = *keys
            .keys()
            .next_back()
            .ok_or_else(|| VaultError::KeyMaterial("no `v<N>:` line".into()))?;
        Ok(Vault {
            keys,
            current,
            index_key,
        })
    }

    /// Fresh key material text (a comment line saying what the file is, an index key and
    /// v1), random from OsRng.
    pub fn generate_key_material() -> String {
        let v1 = random_key();
        render(&random_key(), [(1, &*v1)])
    }

    /// Reads key material from `path`, or creates the file (mode 0600 on unix, parent
    /// dirs created) with [`Vault::generate_key_material`] when it does not exist.
    ///
    /// An existing file is never overwritten, even if it is malformed: replacing it would
    /// make everything encrypted under it unreadable.
    pub fn load_or_create(path: &Path) -> Result<Vault, VaultError> {
        match std::fs::read_to_string(path) {
            Ok(text) => return Self::from_key_material(&text),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            Err(_) => {}
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let text = Zeroizing::new(Self::generate_key_material());
        match write_new_private(path, &text) {
            Ok(()) => Self::from_key_material(&text),
            // Another process created the file since we looked: use its keys, not ours.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::from_key_material(&std::fs::read_to_string(path)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Key material with one more version appended (the new highest version), for
    /// rotation; the index key is kept (blind indexes stay valid across rotation).
    /// Comments of the original text are replaced by the standard header.
    ///
    /// # Panics
    ///
    /// If the current version is `u32::MAX`.
    pub fn rotated_key_material(&self) -> String {
        let next = self.current.checked_add(1).expect("key version overflow");
        let new_key = random_key();
        let versions = self.keys.iter().map(|(v, k)| (*v, &**k));
        render(&self.index_key, versions.chain([(next, &*new_key)]))
    }

    /// The version new encryptions are written with.
    pub fn current_version(&self) -> u32 {
        self.current
    }

    /// Encrypts with the current key. `aad` binds the ciphertext to where it is stored
    /// (e.g. "customer.phone:<id>") so it cannot be moved to another row or column.
    /// Output is ASCII: `v<N>.<base64url-no-pad of nonce||ciphertext||tag>`.
    pub fn encrypt(&self, plaintext: &str, aad: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: aad.as_bytes(),
        };
        let sealed = self
            .cipher(self.current)
            .expect("the current version has a key")
            .encrypt(XNonce::from_slice(&nonce), payload)
            .expect("XChaCha20-Poly1305 only refuses messages of 256 GiB and more");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        format!("v{}.{}", self.current, URL_SAFE_NO_PAD.encode(blob))
    }

    /// Decrypts a ciphertext written by [`Vault::encrypt`] with any version this vault
    /// holds, under the same `aad`.
    pub fn decrypt(&self, ciphertext: &str, aad: &str) -> Result<String, VaultError> {
        let (version, blob) = split(ciphertext).ok_or(VaultError::MalformedCiphertext)?;
        let cipher = self
            .cipher(version)
            .ok_or(VaultError::UnknownVersion(version))?;
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let payload = Payload {
            msg: sealed,
            aad: aad.as_bytes(),
        };
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| VaultError::Decryption)?;
        // Authentic ciphertexts come from `encrypt(&str)`, so this only fails for text
        // encrypted by something else under our key.
        String::from_utf8(plain).map_err(|_| VaultError::MalformedCiphertext)
    }

    /// The key version a ciphertext was written with, if it parses.
    pub fn version_of(ciphertext: &str) -> Option<u32> {
        split(ciphertext).map(|(version, _)| version)
    }

    /// A keyed blind index for exact lookup: hex of HMAC-SHA256(index key, kind || 0x00 ||
    /// value), truncated to 32 hex chars (128 bits). `kind` separates fields (e.g.
    /// "phone", "plate", "name", "id_number") so equal values in different fields do not
    /// match. The caller normalises `value` first.
    ///
    /// Keyed, unlike a plain hash, so that a leaked database cannot be searched by hashing
    /// every phone number.
    pub fn blind_index(&self, kind: &str, value: &str) -> String {
        // The 0x00 separator is only unambiguous if kinds never contain it.
        debug_assert!(!kind.contains('\0'), "a blind index kind contains NUL");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&*self.index_key)
            .expect("HMAC takes any key length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let mut index = hex::encode(mac.finalize().into_bytes());
        index.truncate(INDEX_HEX_LEN);
        index
    }

    /// A vault for tests with fixed keys (deterministic index; encryption still uses
    /// random nonces). Its keys are public: never use it for real data.
    pub fn for_tests() -> Vault {
        Vault {
            keys: BTreeMap::from([(1, Zeroizing::new([0x01; 32]))]),
            current: 1,
            index_key: Zeroizing::new([0x42; 32]),
        }
    }

    fn cipher(&self, version: u32) -> Option<XChaCha20Poly1305> {
        // The cipher wipes its copy of the key when dropped.
        let key = self.keys.get(&version)?;
        Some(XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(
            &**key,
        )))
    }
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("versions", &self.keys.keys().collect::<Vec<_>>())
            .field("current", &self.current)
            .finish()
    }
}

fn random_key() -> Key {
    let mut key = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(&mut *key);
    key
}

fn parse_key(key_hex: &str) -> Option<Key> {
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(key_hex, &mut *key).ok()?;
    Some(key)
}

/// A version number in its one canonical spelling: "1", never "01" or "+1", so that one
/// version cannot appear twice under two names.
fn parse_version(s: &str) -> Option<u32> {
    s.parse::<u32>().ok().filter(|v| v.to_string() == s)
}

fn render<'a>(
    index_key: &[u8; 32],
    versions: impl IntoIterator<Item = (u32, &'a [u8; 32])>,
) -> String {
    let mut text = format!("{HEADER}index:{}\n", hex::encode(index_key));
    for (version, key) in versions {
        text.push_str(&format!("v{version}:{}\n", hex::encode(key)));
    }
    text
}

/// `v<N>.<base64url>` into the version and nonce||ciphertext||tag.
fn split(ciphertext: &str) -> Option<(u32, Vec<u8>)> {
    let (label, body) = ciphertext.split_once('.')?;
    let version = parse_version(label.strip_prefix('v')?)?;
    let blob = URL_SAFE_NO_PAD.decode(body).ok()?;
    (blob.len() >= NONCE_LEN + TAG_LEN).then_some((version, blob))
}

/// Creates `path`, failing if it exists, readable by its owner only, and flushes it to
/// disk before anything is encrypted under the keys it holds.
fn write_new_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AAD: &str = "customer.phone:c1";

    fn key_line(label: &str, byte: u8) -> String {
        format!("{label}:{}\n", hex::encode([byte; 32]))
    }

    fn material_error(text: &str) -> String {
        match Vault::from_key_material(text) {
            Err(VaultError::KeyMaterial(msg)) => msg,
            other => panic!("expected a key material error, got {other:?}"),
        }
    }

    /// Re-encodes a ciphertext with one byte of its nonce||ciphertext||tag changed.
    fn flip_byte(ciphertext: &str, at: usize) -> String {
        let (label, body) = ciphertext.split_once('.').unwrap();
        let mut blob = URL_SAFE_NO_PAD.decode(body).unwrap();
        blob[at] ^= 0x01;
        format!("{label}.{}", URL_SAFE_NO_PAD.encode(blob))
    }

    #[test]
    fn round_trip() {
        let vault = Vault::for_tests();
        for text in ["13800138000", "", "张三", "京A12345"] {
            let ct = vault.encrypt(text, AAD);
            assert!(ct.is_ascii() && ct.starts_with("v1."), "{ct}");
            assert!(!ct.contains(text) || text.is_empty());
            assert_eq!(vault.decrypt(&ct, AAD).unwrap(), text);
        }
    }

    #[test]
    fn wrong_aad_fails() {
        let vault = Vault::for_tests();
        let ct = vault.encrypt("13800138000", AAD);
        for aad in ["customer.phone:c2", "customer.name:c1", ""] {
            assert!(matches!(
                vault.decrypt(&ct, aad),
                Err(VaultError::Decryption)
            ));
        }
    }

    #[test]
    fn any_flipped_byte_fails() {
        let vault = Vault::for_tests();
        let ct = vault.encrypt("13800138000", AAD);
        let len = URL_SAFE_NO_PAD
            .decode(ct.split_once('.').unwrap().1)
            .unwrap()
            .len();
        assert_eq!(len, NONCE_LEN + "13800138000".len() + TAG_LEN);
        // Nonce, ciphertext and tag alike are authenticated.
        for at in 0..len {
            let tampered = flip_byte(&ct, at);
            assert!(
                matches!(vault.decrypt(&tampered, AAD), Err(VaultError::Decryption)),
                "byte {at}"
            );
        }
    }

    #[test]
    fn wrong_key_fails() {
        let other = Vault::from_key_material(&Vault::generate_key_material()).unwrap();
        let ct = other.encrypt("13800138000", AAD);
        let vault = Vault::for_tests();
        assert!(matches!(
            vault.decrypt(&ct, AAD),
            Err(VaultError::Decryption)
        ));
    }

    #[test]
    fn rotation_keeps_old_ciphertexts_and_indexes() {
        let v1 = Vault::from_key_material(&Vault::generate_key_material()).unwrap();
        let old = v1.encrypt("13800138000", AAD);
        let rotated_text = v1.rotated_key_material();
        let v2 = Vault::from_key_material(&rotated_text).unwrap();

        assert_eq!(v2.current_version(), 2);
        assert!(rotated_text.starts_with('#'));
        assert_eq!(v2.decrypt(&old, AAD).unwrap(), "13800138000");
        let new = v2.encrypt("13800138000", AAD);
        assert_eq!(Vault::version_of(&old), Some(1));
        assert_eq!(Vault::version_of(&new), Some(2));
        assert_eq!(
            v2.blind_index("phone", "13800138000"),
            v1.blind_index("phone", "13800138000")
        );

        // The old vault does not know v2.
        assert!(matches!(
            v1.decrypt(&new, AAD),
            Err(VaultError::UnknownVersion(2))
        ));
        // A third rotation keeps both earlier versions.
        let v3 = Vault::from_key_material(&v2.rotated_key_material()).unwrap();
        assert_eq!(v3.current_version(), 3);
        assert_eq!(v3.decrypt(&old, AAD).unwrap(), "13800138000");
        assert_eq!(v3.decrypt(&new, AAD).unwrap(), "13800138000");
    }

    #[test]
    fn unknown_version_fails() {
        let vault = Vault::for_tests();
        let ct = vault.encrypt("x", AAD);
        let renamed = ct.replacen("v1.", "v7.", 1);
        assert_eq!(Vault::version_of(&renamed), Some(7));
        assert!(matches!(
            vault.decrypt(&renamed, AAD),
            Err(VaultError::UnknownVersion(7))
        ));
    }

    #[test]
    fn malformed_ciphertexts_are_refused() {
        let vault = Vault::for_tests();
        let body = vault
            .encrypt("x", AAD)
            .split_once('.')
            .unwrap()
            .1
            .to_string();
        let short = URL_SAFE_NO_PAD.encode([0u8; NONCE_LEN + TAG_LEN - 1]);
        for ct in [
            String::new(),
            "v1".into(),
            "v1.".into(),
            format!("1.{body}"),
            format!("v.{body}"),
            format!("v01.{body}"),
            format!("v+1.{body}"),
            format!("v1.{body}="),
            format!("v1.{body}!"),
            format!("v1.{short}"),
            "13800138000".into(),
        ] {
            assert_eq!(Vault::version_of(&ct), None, "{ct}");
            assert!(
                matches!(
                    vault.decrypt(&ct, AAD),
                    Err(VaultError::MalformedCiphertext)
                ),
                "{ct}"
            );
        }
    }

    #[test]
    fn random_nonces_but_stable_blind_indexes() {
        let vault = Vault::for_tests();
        let a = vault.encrypt("13800138000", AAD);
        let b = vault.encrypt("13800138000", AAD);
        assert_ne!(a, b);

        let index = vault.blind_index("phone", "13800138000");
        assert_eq!(index, vault.blind_index("phone", "13800138000"));
        assert_eq!(index.len(), 32);
        assert!(index
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        // HMAC-SHA256(0x42 * 32, "phone\0" "13800138000"), computed independently.
        assert_eq!(index, "1647cd810a9a2a1fef1954637e000bd0");

        assert_ne!(index, vault.blind_index("plate", "13800138000"));
        assert_ne!(index, vault.blind_index("phone", "13800138001"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(vault.blind_index("ab", "c"), vault.blind_index("a", "bc"));
        // Keyed: another index key gives another index.
        let other = Vault::from_key_material(&Vault::generate_key_material()).unwrap();
        assert_ne!(index, other.blind_index("phone", "13800138000"));
    }

    #[test]
    fn key_material_parses_with_comments_and_highest_version_encrypts() {
        let text = format!(
            "# keys\n\n{}  {}\n{}{}",
            key_line("index", 9),
            "# rotated",
            key_line("v1", 1),
            key_line("v3", 3)
        );
        let vault = Vault::from_key_material(&text).unwrap();
        assert_eq!(vault.current_version(), 3);
        assert_eq!(
            format!("{vault:?}"),
            "Vault { versions: [1, 3], current: 3 }"
        );
        assert_eq!(Vault::version_of(&vault.encrypt("x", AAD)), Some(3));

        let crlf = text.replace('\n', "\r\n");
        assert_eq!(
            Vault::from_key_material(&crlf).unwrap().current_version(),
            3
        );
    }

    #[test]
    fn key_material_errors() {
        let index = key_line("index", 9);
        let v1 = key_line("v1", 1);
        let cases = [
            (v1.clone(), "no `index:`"),
            (index.clone(), "no `v<N>:`"),
            (String::new(), "no `index:`"),
            (format!("{index}v1:abcd\n"), "64 hex"),
            (format!("{index}v1:{}\n", "zz".repeat(32)), "64 hex"),
            (format!("{index}v1:{}\n", "ab".repeat(33)), "64 hex"),
            (format!("{index}{v1}{v1}"), "v1 appears twice"),
            (format!("{index}{index}{v1}"), "second index"),
            (format!("{index}{}", key_line("v0", 1)), "version"),
            (format!("{index}{}", key_line("v01", 1)), "version"),
            (format!("{index}{}", key_line("key", 1)), "version"),
            (format!("{index}v1 {}\n", "ab".repeat(32)), "expected"),
        ];
        for (text, expected) in cases {
            let msg = material_error(&text);
            assert!(msg.contains(expected), "{text:?}: {msg}");
            // Error messages never quote key material.
            assert!(!msg.contains("0101") && !msg.contains("abab"), "{msg}");
        }
    }

    #[test]
    fn generated_material_is_fresh_and_commented() {
        let a = Vault::generate_key_material();
        let b = Vault::generate_key_material();
        assert_ne!(a, b);
        assert!(a.starts_with("# Forecourt personal-data keys"));
        let vault = Vault::from_key_material(&a).unwrap();
        assert_eq!(vault.current_version(), 1);
        assert_eq!(vault.decrypt(&vault.encrypt("x", AAD), AAD).unwrap(), "x");
    }

    #[test]
    fn load_or_create_writes_a_private_file_and_reads_it_back() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let root =
            std::env::temp_dir().join(format!("forecourt-privacy-{}-{nanos}", std::process::id()));
        let path = root.join("nested/dir/privacy.keys");

        let created = Vault::load_or_create(&path).unwrap();
        let ct = created.encrypt("13800138000", AAD);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with('#'));

        let loaded = Vault::load_or_create(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "not rewritten"
        );
        assert_eq!(
            loaded.blind_index("phone", "13800138000"),
            created.blind_index("phone", "13800138000")
        );
        assert_eq!(loaded.decrypt(&ct, AAD).unwrap(), "13800138000");

        // A malformed existing file is an error, never replaced.
        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(
            Vault::load_or_create(&path),
            Err(VaultError::KeyMaterial(_))
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "garbage");

        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn debug_shows_versions_not_keys() {
        let text = Vault::generate_key_material();
        let v1 = Vault::from_key_material(&text).unwrap();
        let rotated = v1.rotated_key_material();
        let vault = Vault::from_key_material(&rotated).unwrap();
        let debug = format!("{vault:?}");
        assert_eq!(debug, "Vault { versions: [1, 2], current: 2 }");
        for line in rotated.lines().filter(|l| !l.starts_with('#')) {
            let key_hex = line.split_once(':').unwrap().1;
            assert!(!debug.contains(key_hex) && !debug.contains(&key_hex[..8]));
        }
        assert_eq!(
            format!("{:?}", Vault::for_tests()),
            "Vault { versions: [1], current: 1 }"
        );
    }
}
