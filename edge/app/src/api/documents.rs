use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{page_size, require, visible};
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiJson, ApiQuery, Caller};
use crate::model::Role;
use crate::model::dto::{CreateDocument, Document, DocumentPage, PageQuery};
use crate::service::documents;
use crate::state::AppState;

/// Create a document owned by the caller. Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/docs", tag = "documents", request_body = CreateDocument,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[\\x20-\\x7E]+$",
        description = "Replays return the first response; reuse with another body is 422")),
    responses((status = 201, body = Document), (status = 400), (status = 401), (status = 403), (status = 409), (status = 422), (status = 429)),
    security(("bearer" = [])))]
pub(super) async fn create(State(state): State<AppState>, Caller(me): Caller, headers: HeaderMap, ApiJson(body): ApiJson<CreateDocument>) -> ApiResult<Response> {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| ApiError::Invalid("Idempotency-Key must be ASCII".into()))?),
        None => None,
    };
    let created = documents::create(&state, me.subject.as_str(), key, &body).await?;
    let status = StatusCode::from_u16(created.status).unwrap_or(StatusCode::CREATED);
    let mut response = (status, created.body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if created.replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// List the documents the caller is a member of.
#[utoipa::path(get, path = "/v1/docs", tag = "documents", params(PageQuery),
    responses((status = 200, body = DocumentPage), (status = 400), (status = 401)), security(("bearer" = [])))]
pub(super) async fn list(State(state): State<AppState>, Caller(me): Caller, ApiQuery(q): ApiQuery<PageQuery>) -> ApiResult<Json<DocumentPage>> {
    let limit = page_size(&state, q.limit)?;
    let after = q.cursor.unwrap_or_default();
    let rows = state.store.documents_of(me.subject.as_str(), &after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let documents: Vec<Document> = rows.into_iter().take(limit as usize).map(Document::from).collect();
    let next_cursor = if more { documents.last().map(|d| d.id.clone()) } else { None };
    Ok(Json(DocumentPage { documents, next_cursor }))
}

/// A document's metadata: heads, sizes and the caller's role.
#[utoipa::path(get, path = "/v1/docs/{id}", tag = "documents", params(("id" = String, Path)),
    responses((status = 200, body = Document), (status = 401), (status = 404)), security(("bearer" = [])))]
pub(super) async fn get(State(state): State<AppState>, Caller(me): Caller, Path(id): Path<String>) -> ApiResult<Json<Document>> {
    Ok(Json(visible(&state, &id, me.subject.as_str()).await?.into()))
}

/// Delete a document and everything stored for it (owner only).
#[utoipa::path(delete, path = "/v1/docs/{id}", tag = "documents", params(("id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404)), security(("bearer" = [])))]
pub(super) async fn delete(State(state): State<AppState>, Caller(me): Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let row = visible(&state, &id, me.subject.as_str()).await?;
    require(&row, Role::Owner)?;
    state.store.delete_document(&id).await?;
    state.wakeups.announce_access(std::slice::from_ref(&id));
    Ok(StatusCode::NO_CONTENT)
}
