//! The API's OpenAPI 3.1 document, generated from the handlers' own
//! annotations (utoipa), served at `/api/v1/openapi.json`, and an
//! interactive reference (Swagger UI, vendored) at `/api/v1/docs`.

use axum::Json;
use axum::response::{Html, IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{analytics, dead_letters, designs, feed, ideas, listings, operations, publishing, trends};

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("pod_<id>_<secret>")
                    .description(Some("An API token from `pod tokens create`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "pod_session",
                "A dashboard session (`__Host-pod_session` over HTTPS); changes also need `X-CSRF-Token`",
            ))),
        );
    }
}

/// Answers every operation can give for what it takes, declared once here
/// rather than on each route: no valid token or session (401) on every
/// secured operation, a role or CSRF token that does not allow a change
/// (403) on every secured one that changes something, a path id not in the
/// caller's tenant (404), a malformed query parameter or path (400), a
/// malformed or reused `Idempotency-Key` (400, 422), a body over the limit
/// (413). A route's own attribute lists only what is particular to it.
struct SharedResponses;

/// An optional parameter, for the `IntoParams` the shared extractors declare
/// (`PageQuery`, `CommandHeaders`).
pub(crate) fn optional_parameter(
    place: utoipa::openapi::path::ParameterIn,
    name: &str,
    description: &str,
    schema: utoipa::openapi::schema::ObjectBuilder,
) -> utoipa::openapi::path::Parameter {
    utoipa::openapi::path::ParameterBuilder::new()
        .name(name)
        .parameter_in(place)
        .required(utoipa::openapi::Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn problem(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ProblemDetails"))).build();
    ResponseBuilder::new().description(description).content("application/problem+json", content).build().into()
}

impl Modify for SharedResponses {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{Operation, ParameterIn};
        let add = |op: &mut Operation, status: &str, description: &str| {
            op.responses.responses.entry(status.to_owned()).or_insert_with(|| problem(description));
        };
        for item in api.paths.paths.values_mut() {
            let operations = [
                (false, &mut item.get),
                (true, &mut item.post),
                (true, &mut item.put),
                (true, &mut item.patch),
                (true, &mut item.delete),
            ];
            for (changes, op) in operations.into_iter().filter_map(|(c, op)| op.as_mut().map(|op| (c, op))) {
                // A route's own error answers say only their status and
                // meaning; each is a problem document.
                for (status, response) in op.responses.responses.iter_mut() {
                    if let utoipa::openapi::RefOr::T(r) = response
                        && (status.starts_with('4') || status.starts_with('5'))
                        && r.content.is_empty()
                    {
                        let description = r.description.clone();
                        *response = problem(&description);
                    }
                }
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                if secured {
                    add(op, "401", "No valid token or session");
                }
                if secured && changes {
                    add(op, "403", "The role or the CSRF token does not allow this");
                }
                let params = op.parameters.as_deref().unwrap_or_default();
                let takes = |place: ParameterIn| params.iter().any(|p| p.parameter_in == place);
                let (query, path) = (takes(ParameterIn::Query), takes(ParameterIn::Path));
                let keyed = params.iter().any(|p| p.name.eq_ignore_ascii_case("Idempotency-Key"));
                let body = op.request_body.is_some() || keyed;
                if path {
                    add(op, "404", "Not in the caller's tenant");
                }
                if query || path || keyed {
                    add(op, "400", "A malformed parameter, path or Idempotency-Key");
                }
                if keyed {
                    add(op, "422", "The Idempotency-Key was used with another request, or the input breaks its rules");
                }
                if body {
                    add(op, "413", "The body is over 1 MiB");
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "POD Automator API",
        description = "Trends, ideas, designs and listings of one shop (the caller's tenant). Errors are \
                       `application/problem+json` (RFC 9457); lists are pages with a `next` cursor; commands \
                       answer 202 with a link to follow and honour `Idempotency-Key`."
    ),
    paths(
        trends::list, trends::one, trends::interest, trends::momentum, trends::seasonality, trends::import,
        trends::more_ideas,
        ideas::list, ideas::one, ideas::approve, ideas::reject, ideas::regenerate,
        designs::list, designs::one, designs::artwork, designs::preview, designs::regenerate,
        listings::list, listings::one, listings::edit, listings::approve, listings::revisions, listings::csv,
        publishing::submit, publishing::queue, publishing::shops, publishing::listing_defaults,
        publishing::choose_listing_defaults,
        analytics::summary, analytics::runs, analytics::run,
        dead_letters::list, dead_letters::retry,
        operations::sources, operations::costs,
        feed::sse, feed::ws,
    ),
    components(schemas(crate::problem::ProblemDetails, crate::problem::FieldError)),
    modifiers(&Security, &SharedResponses),
    tags(
        (name = "trends", description = "What shoppers search for"),
        (name = "ideas", description = "Product ideas and their screening"),
        (name = "designs", description = "Print-ready artwork"),
        (name = "listings", description = "Etsy-ready listings"),
        (name = "publishing", description = "Submitting listings, the publish queue, marketplace connections"),
        (name = "analytics", description = "Sales, the pipeline's output, and pipeline runs"),
        (name = "operations", description = "Sources, costs and dead letters"),
        (name = "feed", description = "The tenant's events, live"),
    )
)]
pub struct ApiDoc;

/// The document (public: it describes, it does not reveal).
pub async fn document() -> Response {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    Json(doc).into_response()
}

/// The interactive reference.
pub async fn reference() -> Html<&'static str> {
    Html(include_str!("../templates/api_reference.html"))
}
