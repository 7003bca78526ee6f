//! Creating documents, with `Idempotency-Key` replay.

use sha2::{Digest, Sha256};
use sync_core::DocumentId;

use crate::error::{ApiError, ApiResult};
use crate::model::dto::{CreateDocument, Document};
use crate::model::Role;
use crate::ports::{DbError, Statement, UnixMillis};
use crate::state::AppState;
use crate::store::{IdempotencyRecord, Store};

/// A stored or fresh response: status and JSON body.
pub struct Created {
    pub status: u16,
    pub body: Vec<u8>,
    pub replayed: bool,
}

const MAX_TITLE_CHARS: usize = 200;
const MAX_KEY_CHARS: usize = 255;

/// Creates a document owned by `user`. With an idempotency key, a replay of the same request
/// returns the first response and a different request with the same key is rejected.
pub async fn create(state: &AppState, user: &str, key: Option<&str>, request: &CreateDocument) -> ApiResult<Created> {
    let title = request.title.clone().unwrap_or_default();
    if title.chars().count() > MAX_TITLE_CHARS || title.chars().any(char::is_control) {
        return Err(ApiError::Invalid(format!("title must be at most {MAX_TITLE_CHARS} characters without control characters")));
    }
    let id = match &request.id {
        Some(id) => id.parse::<DocumentId>().map_err(|e| ApiError::Invalid(format!("id: {e}")))?,
        None => {
            let mut bytes = [0u8; 16];
            state.random.fill(&mut bytes);
            DocumentId::from_bytes(bytes)
        }
    };
    let hash = Sha256::digest(serde_json::to_vec(request).unwrap_or_default()).to_vec();
    if let Some(key) = key {
        if key.is_empty() || key.chars().count() > MAX_KEY_CHARS || !key.is_ascii() {
            return Err(ApiError::Invalid(format!("Idempotency-Key must be 1 to {MAX_KEY_CHARS} ASCII characters")));
        }
        if let Some(found) = state.store.idempotency_record(user, key).await? {
            return replay(found, &hash);
        }
    }
    let now = state.now();
    let id = id.to_string();
    let document = Document {
        id: id.clone(),
        title: title.clone(),
        owner: user.to_owned(),
        role: Role::Owner,
        created_at: now.0,
        updated_at: now.0,
        heads: Vec::new(),
        change_rows: 0,
        change_bytes: 0,
        snapshot_bytes: 0,
    };
    let body = serde_json::to_vec(&document).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut statements = creation(state, user, &id, &title, now).await?;
    if let Some(key) = key {
        let record = IdempotencyRecord { request_hash: hash.clone(), status: 201, body: body.clone() };
        statements.push(Store::record_idempotency_statement(user, key, &record, now));
    }
    match state.store.db().batch(statements).await {
        Ok(_) => Ok(Created { status: 201, body, replayed: false }),
        Err(DbError::Constraint(msg)) => {
            // Either the key was recorded by a concurrent request, or the id is taken.
            if let Some(key) = key
                && let Some(found) = state.store.idempotency_record(user, key).await? {
                    return replay(found, &hash);
                }
            tracing::info!(%msg, "create conflicted");
            Err(ApiError::Conflict("a document with this id already exists"))
        }
        Err(e) => Err(e.into()),
    }
}

/// The statements creating document `id` for `user` at `now` (to run in one batch), once the
/// user's document quota allows one more. The quota is checked before the write: two creates
/// racing at the limit may both pass (one over).
pub async fn creation(state: &AppState, user: &str, id: &str, title: &str, now: UnixMillis) -> ApiResult<Vec<Statement>> {
    let quota = state.config.quotas.documents_per_user;
    if quota > 0 && state.store.owned_count(user).await? >= i64::from(quota) {
        return Err(ApiError::QuotaExceeded(format!("a user may own at most {quota} documents")));
    }
    Ok(Store::create_document_statements(id, user, title, now))
}

fn replay(found: IdempotencyRecord, hash: &[u8]) -> ApiResult<Created> {
    if found.request_hash == hash {
        Ok(Created { status: found.status, body: found.body, replayed: true })
    } else {
        Err(ApiError::IdempotencyMismatch)
    }
}
