use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiResult;
use crate::http::{ApiJson, ApiQuery, Caller};
use crate::model::dto::{PresencePage, PresenceQuery, PresenceSent, SendPresence};
use crate::service::presence;
use crate::state::AppState;

/// Send a presence message (a cursor, a selection: at most 1 KiB of JSON) to the document's
/// other readers over HTTP (docs/protocol.md §10.1). Any member may, viewers too; at most 20
/// per second per user. Served for 10 s, never stored in the document.
#[utoipa::path(post, path = "/v1/docs/{id}/presence", tag = "live", params(("id" = String, Path)), request_body = SendPresence,
    responses((status = 202, body = PresenceSent), (status = 400), (status = 401), (status = 404), (status = 413), (status = 429)),
    security(("bearer" = [])))]
pub(super) async fn send(
    State(state): State<AppState>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SendPresence>,
) -> ApiResult<Response> {
    let seq = presence::send(&state, me.subject.as_str(), body.session.as_deref(), &id, &body.data).await?;
    Ok((StatusCode::ACCEPTED, Json(PresenceSent { seq })).into_response())
}

/// Read the presence messages of up to 100 documents sent after a cursor, waiting up to
/// `wait_ms` for one (docs/protocol.md §10.1).
#[utoipa::path(get, path = "/v1/presence", tag = "live", params(PresenceQuery),
    responses((status = 200, body = PresencePage), (status = 400), (status = 401)),
    security(("bearer" = [])))]
pub(super) async fn read(State(state): State<AppState>, Caller(me): Caller, ApiQuery(q): ApiQuery<PresenceQuery>) -> ApiResult<Response> {
    let read = presence::Read { docs: &q.docs, after: q.after, session: q.session.as_deref(), wait_ms: q.wait_ms.unwrap_or(0) };
    let page = presence::read(&state, me.subject.as_str(), read).await?;
    let mut response = Json(page).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
