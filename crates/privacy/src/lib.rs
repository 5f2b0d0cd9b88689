//! Protection of personal data at rest, as China's PIPL asks: authenticated encryption
//! of single fields (names, phones, plates, ID numbers), versioned keys so that keys can
//! be rotated without re-encrypting everything at once, keyed blind indexes so that an
//! encrypted field can still be looked up by exact value, and the GB 11643 check of
//! resident ID numbers.
//!
//! This crate depends on no other Forecourt crate and knows nothing of the database: the
//! caller decides what to encrypt, normalises values before indexing them, and stores the
//! text this crate returns. It must never print, log or return key bytes or decrypted
//! values except to the caller that asked (its `Debug` shows key versions only), never
//! invent its own cryptographic primitives (it composes RustCrypto's XChaCha20-Poly1305
//! and HMAC-SHA256), and never do IO other than reading or creating the key file.

mod id_number;
mod vault;

pub use id_number::{mask_id_number, parse_id_number, IdNumberError};
pub use vault::{Vault, VaultError};
