//! Document ids: automerge-repo writes a document's 16 bytes in bs58check (the Bitcoin base58
//! alphabet over the bytes and the first 4 bytes of their double SHA-256), edgesync as 32 hex
//! digits. The bytes are the same, so each id names one document in both protocols.

use crate::id::{DOCUMENT_ID_LEN, DocumentId};

/// The longest bs58check spelling of 16 bytes (20 with the checksum): 28 characters. Longer
/// input is refused before decoding, whose cost grows with the square of the length.
const MAX_LEN: usize = 28;

/// Why a string is not an automerge-repo document id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseRepoIdError {
    #[error("an automerge-repo document id has at most {MAX_LEN} characters")]
    TooLong,
    #[error("not base58check: {0}")]
    Encoding(String),
    #[error("expected {DOCUMENT_ID_LEN} bytes, got {0}")]
    Length(usize),
}

/// `id` as automerge-repo writes it (`automerge:<this>` is its URL).
pub fn repo_document_id(id: &DocumentId) -> String {
    bs58::encode(id.as_bytes()).with_check().into_string()
}

/// The document an automerge-repo id names (the bare id, as messages carry it).
pub fn from_repo_document_id(text: &str) -> Result<DocumentId, ParseRepoIdError> {
    if text.len() > MAX_LEN {
        return Err(ParseRepoIdError::TooLong);
    }
    let bytes = bs58::decode(text).with_check(None).into_vec().map_err(|e| ParseRepoIdError::Encoding(e.to_string()))?;
    let bytes: [u8; DOCUMENT_ID_LEN] = bytes.as_slice().try_into().map_err(|_| ParseRepoIdError::Length(bytes.len()))?;
    Ok(DocumentId::from_bytes(bytes))
}
