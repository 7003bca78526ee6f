//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::model::dto;

#[derive(OpenApi)]
#[openapi(
    info(title = "edgesync API", version = "1", description = "CRDT document sync at the edge. Errors are application/problem+json with a stable `type` (urn:edgesync:problem:*)."),
    paths(
        super::health::health,
        super::documents::create, super::documents::list, super::documents::get, super::documents::delete,
        super::members::list, super::members::set, super::members::remove,
        super::sync::sync_one, super::sync::sync_many,
        super::snapshot::snapshot, super::history::history,
        super::admin::compact,
    ),
    components(schemas(dto::CreateDocument, dto::Document, dto::DocumentPage, dto::Member, dto::MemberList, dto::SetMember,
        dto::HistoryEntry, dto::HistoryPage, dto::Health, dto::ReplicaHealth, crate::model::Role, crate::service::compaction::CompactionReport)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()));
    }
}

pub(super) async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
