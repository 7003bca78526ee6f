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
        super::sync::sync_one, super::sync::sync_many, super::presence::send, super::presence::read,
        super::snapshot::snapshot, super::history::history,
        super::admin::compact, super::admin::damaged, super::admin::forget_damaged,
    ),
    components(schemas(dto::CreateDocument, dto::Document, dto::DocumentPage, dto::Member, dto::MemberList, dto::SetMember,
        dto::HistoryEntry, dto::HistoryPage, dto::Health, dto::ReplicaHealth, crate::model::Role, crate::service::compaction::CompactionReport,
        crate::store::DamagedDocument, dto::SyncMessage, dto::AutomergeDocument, dto::Problem,
        dto::SendPresence, dto::PresenceSent, dto::PresencePage, dto::PresenceEntry)),
    modifiers(&BearerAuth, &ProblemResponses)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()));
    }
}

/// Every error response is `application/problem+json` with the [`dto::Problem`] schema:
/// added here once instead of on each of the handlers' annotations, together with the errors
/// every route can answer (the rate limit) and every route with a body (its size and type).
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr};
        let problem = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                let mut common = vec![("429", "rate limit reached; retry after `Retry-After` seconds")];
                if operation.request_body.is_some() {
                    common.push(("413", "the body is larger than this route accepts"));
                    common.push(("415", "the body's media type is not the one documented"));
                }
                for (status, description) in common {
                    let response = utoipa::openapi::ResponseBuilder::new().description(description).build();
                    operation.responses.responses.entry(status.into()).or_insert(RefOr::T(response));
                }
                for (status, response) in operation.responses.responses.iter_mut() {
                    let is_error = status.parse::<u16>().is_ok_and(|s| s >= 400);
                    if let (true, RefOr::T(response)) = (is_error, response) {
                        if response.description.is_empty() {
                            response.description = "a problem (see the Problem schema)".into();
                        }
                        response.content.insert("application/problem+json".into(), problem.clone());
                    }
                }
            }
        }
    }
}

pub(super) async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
