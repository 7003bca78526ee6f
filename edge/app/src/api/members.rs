use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{require, visible};
use crate::auth::UserId;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiJson, Caller};
use crate::model::Role;
use crate::model::dto::{Member, MemberList, SetMember};
use crate::state::AppState;

/// List a document's members (any member may).
#[utoipa::path(get, path = "/v1/docs/{id}/members", tag = "members", params(("id" = String, Path)),
    responses((status = 200, body = MemberList), (status = 401), (status = 404)), security(("bearer" = [])))]
pub(super) async fn list(State(state): State<AppState>, Caller(me): Caller, Path(id): Path<String>) -> ApiResult<Json<MemberList>> {
    visible(&state, &id, me.subject.as_str()).await?;
    let members = state.store.members(&id).await?.into_iter().map(|(user_id, role)| Member { user_id, role }).collect();
    Ok(Json(MemberList { members }))
}

/// Add a member or change their role (owner only). The creator's owner role cannot change.
#[utoipa::path(put, path = "/v1/docs/{id}/members/{user_id}", tag = "members", request_body = SetMember,
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 200, body = Member), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn set(
    State(state): State<AppState>,
    Caller(me): Caller,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetMember>,
) -> ApiResult<Json<Member>> {
    let row = visible(&state, &id, me.subject.as_str()).await?;
    require(&row, Role::Owner)?;
    let user: UserId = user_id.parse().map_err(|e| ApiError::Invalid(format!("user_id: {e}")))?;
    if user.as_str() == row.owner && body.role != Role::Owner {
        return Err(ApiError::Conflict("the document's creator always stays an owner"));
    }
    state.store.set_member(&id, user.as_str(), body.role, state.now()).await?;
    // Open sockets read the member's role again (automerge-repo connections answer from it).
    state.wakeups.announce_access(std::slice::from_ref(&id));
    Ok(Json(Member { user_id: user.as_str().to_owned(), role: body.role }))
}

/// Remove a member (owner only; any member may remove themselves).
#[utoipa::path(delete, path = "/v1/docs/{id}/members/{user_id}", tag = "members",
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 409)), security(("bearer" = [])))]
pub(super) async fn remove(State(state): State<AppState>, Caller(me): Caller, Path((id, user_id)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let row = visible(&state, &id, me.subject.as_str()).await?;
    if user_id != me.subject.as_str() {
        require(&row, Role::Owner)?;
    }
    if user_id == row.owner {
        return Err(ApiError::Conflict("the document's creator cannot be removed; delete the document instead"));
    }
    if !state.store.remove_member(&id, &user_id).await? {
        return Err(ApiError::NotFound);
    }
    state.wakeups.announce_access(std::slice::from_ref(&id));
    Ok(StatusCode::NO_CONTENT)
}
