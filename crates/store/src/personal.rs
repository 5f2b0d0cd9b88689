//! Personal data at rest: every name, phone, ID number, address and plate is sealed
//! with the vault before it is written and opened after it is read, and exact lookups go
//! through keyed blind indexes. The associated data binds each ciphertext to its row and
//! column, so a ciphertext copied to another customer does not open.

use crate::StoreError;
use forecourt_privacy::Vault;

pub(crate) fn seal(vault: &Vault, field: &str, row_id: &str, value: &str) -> String {
    vault.encrypt(value, &format!("{field}:{row_id}"))
}

pub(crate) fn unseal(
    vault: &Vault,
    field: &str,
    row_id: &str,
    sealed: &str,
) -> Result<String, StoreError> {
    vault
        .decrypt(sealed, &format!("{field}:{row_id}"))
        .map_err(|e| StoreError::Corrupt(format!("{field} of {row_id} does not decrypt: {e}")))
}

pub(crate) fn unseal_opt(
    vault: &Vault,
    field: &str,
    row_id: &str,
    sealed: Option<String>,
) -> Result<Option<String>, StoreError> {
    sealed.map(|s| unseal(vault, field, row_id, &s)).transpose()
}

/// How names are compared for lookup: trimmed, lower-case, without inner spaces.
pub fn normalise_name(name: &str) -> String {
    name.split_whitespace().collect::<String>().to_lowercase()
}

pub(crate) fn name_index(vault: &Vault, name: &str) -> String {
    vault.blind_index("name", &normalise_name(name))
}

pub(crate) fn phone_index(vault: &Vault, phone: &str) -> String {
    vault.blind_index("phone", phone)
}

pub(crate) fn plate_index(vault: &Vault, plate: &str) -> String {
    vault.blind_index("plate", plate)
}

pub(crate) fn id_number_index(vault: &Vault, id_number: &str) -> String {
    vault.blind_index("id_number", id_number)
}
