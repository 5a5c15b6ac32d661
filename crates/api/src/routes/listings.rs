use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pod_events::TenantId;
use pod_events::domain::Actor;
use pod_events::domain::idea::IdeaScreened;
use pod_events::domain::listing::{self, ListingCommand, ListingError};
use pod_events::domain::listing_text::{Tags, Title, seo_report};
use pod_events::domain::text::Description;
use pod_projections::read::listings::{self, Listing, Revision};
use pod_screening::{nice_class, screen_fields, verdict_of};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::command::{CommandHeaders, CommandRequest, accepted, failed};
use crate::extract::{JsonBody, PathId, Query};
use crate::pagination::{Page, PageQuery};
use crate::problem::{FieldError, Problem};

/// Listings, most recently changed first, optionally by status.
#[utoipa::path(
    get,
    path = "/api/v1/listings",
    tag = "listings",
    summary = "Listings, most recently changed first",
    params(listings::Filter, PageQuery),
    responses((status = 200, description = "A page of listings", body = Page<Listing>)),
    security(("token" = []), ("session" = []))
)]
pub async fn list(
    caller: Caller,
    State(s): State<AppState>,
    Query(filter): Query<listings::Filter>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<Listing>>, Problem> {
    let found = listings::list(&s.pool, &caller.tenant, &filter, &page.keyset()?).await?;
    Ok(Json(Page::of(found)))
}

#[utoipa::path(
    get,
    path = "/api/v1/listings/{id}",
    tag = "listings",
    summary = "One listing with its SEO checks",
    params(("id" = uuid::Uuid, Path, description = "The listing's id")),
    responses((status = 200, description = "The listing", body = Listing)),
    security(("token" = []), ("session" = []))
)]
pub async fn one(caller: Caller, State(s): State<AppState>, PathId(id): PathId) -> Result<Json<Listing>, Problem> {
    listings::one(&s.pool, &caller.tenant, id).await?.map(Json).ok_or_else(|| Problem::not_found("listing"))
}

/// A person's (or a program's) edit. Absent fields stay as they are.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub price_cents: Option<i64>,
    /// The revision the edit was made on; a newer one makes it 409.
    pub expected_revisions: Option<u32>,
}

pub const MAX_PRICE_CENTS: i64 = 5_000_000;

/// An edit with every field parsed: what a revision is made of.
#[derive(Debug, Clone, Default)]
pub struct ParsedEdit {
    pub title: Option<Title>,
    pub description: Option<Description>,
    pub tags: Option<Tags>,
    pub price_cents: Option<u64>,
}

impl ParsedEdit {
    fn is_empty(&self) -> bool {
        self.title.is_none() && self.description.is_none() && self.tags.is_none() && self.price_cents.is_none()
    }
}

impl Edit {
    /// Parses every field and reports every error, each under its field
    /// name (`title`, `tags[2]`, …), in Etsy's words.
    pub fn parse(&self) -> Result<ParsedEdit, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut field = |name: String, message: String| errors.push(FieldError { field: name, message });
        let title = match self.title.as_deref().map(Title::parse) {
            Some(Err(e)) => {
                field("title".into(), e.to_string());
                None
            }
            parsed => parsed.and_then(Result::ok),
        };
        let tags = match self.tags.as_deref().map(Tags::parse_all) {
            Some(Err(problems)) => {
                for (at, e) in problems {
                    field(at.map_or_else(|| "tags".into(), |i| format!("tags[{i}]")), e.to_string());
                }
                None
            }
            parsed => parsed.and_then(Result::ok),
        };
        let description = match self.description.as_deref().map(Description::parse) {
            Some(Err(e)) => {
                field("description".into(), e.to_string());
                None
            }
            parsed => parsed.and_then(Result::ok),
        };
        let price_cents = match self.price_cents {
            Some(p) if !(1..=MAX_PRICE_CENTS).contains(&p) => {
                field("price_cents".into(), format!("must be 1–{MAX_PRICE_CENTS} cents"));
                None
            }
            p => p.map(|p| p as u64),
        };
        if errors.is_empty() { Ok(ParsedEdit { title, description, tags, price_cents }) } else { Err(errors) }
    }
}

/// Edits a listing: validated field by field, scored and screened again,
/// recorded as a revision (editor role; 202 with a link to follow).
#[utoipa::path(
    patch,
    path = "/api/v1/listings/{id}",
    tag = "listings",
    summary = "Edit title, description, tags or price (editor): checked, scored and screened again",
    request_body = Edit,
    params(("id" = uuid::Uuid, Path, description = "The listing's id"), CommandHeaders),
    responses(
        (status = 202, description = "Accepted; follow `Location`", body = serde_json::Value),
        (status = 409, description = "Made on an older revision: `current_revisions` says which is current"),
        (status = 422, description = "Every field's error at once")
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn edit(
    cmd: CommandRequest,
    State(s): State<AppState>,
    PathId(id): PathId,
    edit: Result<JsonBody<Edit>, Problem>,
) -> Result<Response, Problem> {
    cmd.require(Role::Editor)?;
    // Another tenant's id names nothing here: 404 before the edit is judged.
    let current = current_text(&s, &cmd.caller.tenant, id).await?;
    let JsonBody(edit) = edit?;
    let made_on = made_on(current.revisions, edit.expected_revisions)?;
    let parsed = edit.parse().map_err(Problem::invalid)?;
    let revision = draft_revision(&s, current, parsed, cmd.actor())?;
    let meta = cmd.meta(&s, "listings/edit", id, &edit).await?;
    record_revision(&s, &cmd, id, revision, Some(made_on), &meta).await?;
    Ok(accepted(format!("/api/v1/listings/{id}")))
}

/// The revision an edit is made on, checked against the text it will be
/// scored and screened with. That text is the read model's; if the listing
/// has moved on since (or the read model has not caught up with the
/// revision the caller saw), screening it would judge text that is not the
/// result — a red title could be washed green by a tags-only edit — so the
/// edit is refused (409) and the caller reads again. Without
/// `expected_revisions` the edit is made on the revision read here.
pub(crate) fn made_on(text_revision: i32, expected: Option<u32>) -> Result<u32, Problem> {
    let at = text_revision.max(0) as u32;
    match expected {
        None => Ok(at),
        Some(e) if e == at => Ok(e),
        Some(e) if e < at => Err(Problem::new(StatusCode::CONFLICT, ListingError::Stale { current: at }.to_string())
            .with("current_revisions", at)),
        Some(e) => Err(Problem::new(
            StatusCode::CONFLICT,
            format!("revision {e} is still being recorded (this read shows {at}); read the listing again in a moment"),
        )
        .with("current_revisions", at)),
    }
}

/// The listing's text as it reads now, for scoring and screening an edit.
pub(crate) async fn current_text(s: &AppState, tenant: &TenantId, id: Uuid) -> Result<listings::Text, Problem> {
    listings::text(&s.pool, tenant, id).await?.ok_or_else(|| Problem::not_found("listing"))
}

/// The revision an edit makes of the current text: the result scored for
/// SEO and — when the text changed — screened again. Records nothing.
pub(crate) fn draft_revision(
    s: &AppState,
    current: listings::Text,
    edit: ParsedEdit,
    by: Actor,
) -> Result<listing::Revision, Problem> {
    let listings::Text { title, description, tags, keyword, product_type, .. } = current;
    if edit.is_empty() {
        return Err(Problem::invalid(vec![FieldError { field: "body".into(), message: "nothing to change".into() }]));
    }
    // The text as it will read: the edit's fields over the recorded ones
    // (which met these rules when they were recorded).
    let recorded = |field: &str, e: &dyn std::fmt::Display| {
        Problem::invalid(vec![FieldError { field: field.into(), message: format!("the recorded {field}: {e}") }])
    };
    let title = match &edit.title {
        Some(t) => t.clone(),
        None => Title::parse(&title).map_err(|e| recorded("title", &e))?,
    };
    let description = edit.description.as_ref().map_or(description.as_str(), |d| d.as_str()).to_owned();
    let tags = match &edit.tags {
        Some(t) => t.clone(),
        None => Tags::parse(&tags).map_err(|e| recorded("tags", &e))?,
    };
    let keyword = keyword.unwrap_or_else(|| tags.first().map(|t| t.as_str().to_owned()).unwrap_or_default());
    let seo = seo_report(&title, &description, tags.as_slice(), &keyword);
    let text_changed = edit.title.is_some() || edit.description.is_some() || edit.tags.is_some();
    let screening = text_changed.then(|| {
        let fields: Vec<(&str, &str)> = [("title", title.as_str()), ("description", description.as_str())]
            .into_iter()
            .chain(tags.iter().map(|t| ("tag", t.as_str())))
            .collect();
        let hits = screen_fields(&s.index, &fields, product_type.as_deref().and_then(nice_class));
        IdeaScreened { verdict: verdict_of(&hits), hits, index_version: s.index.version() }
    });
    Ok(listing::Revision {
        title: edit.title,
        description: edit.description,
        tags: edit.tags,
        price_cents: edit.price_cents,
        seo_score: seo.score,
        seo_checks: seo.checks,
        screening,
        by,
    })
}

/// Records a revision through the Listing aggregate; a revision made on an
/// older one is refused 409 with `current_revisions`.
pub(crate) async fn record_revision(
    s: &AppState,
    cmd: &CommandRequest,
    id: Uuid,
    revision: listing::Revision,
    expected_revisions: Option<u32>,
    meta: &pod_events::EventMeta,
) -> Result<(), Problem> {
    let command = ListingCommand::Revise { revision, expected_revisions };
    s.listings.execute(&cmd.owns(id), command, meta).await.map(drop).map_err(failed)
}

/// Approves a listing for publishing (editor role). Red screening refuses;
/// amber needs a person, so a token cannot approve it (409).
#[utoipa::path(
    post,
    path = "/api/v1/listings/{id}/approve",
    tag = "listings",
    summary = "Approve a listing for publishing (editor; red refuses, amber needs a person)",
    params(("id" = uuid::Uuid, Path, description = "The listing's id"), CommandHeaders),
    responses(
        (status = 402, description = "The plan's monthly quota is used up"),
        (status = 202, description = "Accepted; follow `Location`", body = serde_json::Value),
        (status = 409, description = "The aggregate refused or changed meanwhile")
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn approve(cmd: CommandRequest, State(s): State<AppState>, PathId(id): PathId) -> Result<Response, Problem> {
    approve_listing(&s, &cmd, id).await?;
    Ok(accepted(format!("/api/v1/listings/{id}")))
}

pub(crate) async fn approve_listing(s: &AppState, cmd: &CommandRequest, id: Uuid) -> Result<(), Problem> {
    cmd.require(Role::Editor)?;
    let command = ListingCommand::Approve { by: cmd.actor() };
    let meta = cmd.meta(s, "listings/approve", id, &command).await?;
    let tenant = &cmd.caller.tenant;
    let hold = crate::quotas::reserve(&s.pool, tenant, crate::quotas::Resource::Listings, id, 1).await?;
    let outcome = s.listings.execute(&cmd.owns(id), command, &meta).await;
    hold.settle(&s.pool, &outcome).await;
    outcome.map(drop).map_err(failed)
}

/// Every listing of the tenant as CSV (Etsy-ready columns), for a
/// spreadsheet or a bulk upload.
/// A cell a spreadsheet will not run as a formula (OWASP, "CSV Injection"):
/// text that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is
/// prefixed with an apostrophe, which spreadsheets show as text and hide.
pub(crate) fn spreadsheet_safe(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell }
}

#[utoipa::path(
    get,
    path = "/api/v1/listings.csv",
    tag = "listings",
    summary = "Every listing of the tenant as CSV",
    responses(
        (status = 200, description = "CSV with a header row", content_type = "text/csv", body = String)
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn csv(caller: Caller, State(s): State<AppState>) -> Result<Response, Problem> {
    let rows = listings::all(&s.pool, &caller.tenant).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "listing_id",
        "status",
        "title",
        "description",
        "tags",
        "price",
        "currency",
        "seo_score",
        "screening",
        "revisions",
        "updated_at",
    ];
    w.write_record(header).map_err(Problem::internal)?;
    for l in rows {
        w.write_record([
            l.listing_id.to_string(),
            l.status,
            spreadsheet_safe(l.title),
            spreadsheet_safe(l.description),
            spreadsheet_safe(l.tags.join(",")),
            format!("{}.{:02}", l.price_cents / 100, l.price_cents % 100),
            l.currency,
            l.seo_score.to_string(),
            l.verdict.unwrap_or_default(),
            l.revisions.to_string(),
            l.updated_at.to_rfc3339(),
        ])
        .map_err(Problem::internal)?;
    }
    let bytes = w.into_inner().map_err(Problem::internal)?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"listings-{}.csv\"", caller.tenant),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/listings/{id}/revisions",
    tag = "listings",
    summary = "A listing's history, oldest first: the draft, each edit, approval, publishing",
    params(("id" = uuid::Uuid, Path, description = "The listing's id")),
    responses((status = 200, description = "Its steps", body = Vec<Revision>)),
    security(("token" = []), ("session" = []))
)]
pub async fn revisions(
    caller: Caller,
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<Vec<Revision>>, Problem> {
    let rows = listings::history(&s.pool, &caller.tenant, id).await?;
    if rows.is_empty() {
        return Err(Problem::not_found("listing"));
    }
    Ok(Json(rows))
}

#[cfg(test)]
mod csv_tests {
    #[test]
    fn cells_that_would_run_as_formulas_are_neutralised() {
        for (cell, safe) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("Cat Mom Shirt", "Cat Mom Shirt"),
            ("a=b", "a=b"),
        ] {
            assert_eq!(super::spreadsheet_safe(cell.into()), safe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::made_on;

    #[test]
    fn an_edit_is_made_on_the_revision_its_text_is() {
        assert_eq!(made_on(2, None).ok(), Some(2), "without a revision: the one read");
        assert_eq!(made_on(2, Some(2)).ok(), Some(2));
        let stale = made_on(2, Some(1)).unwrap_err();
        assert_eq!((stale.details().status, stale.details().extensions["current_revisions"].as_u64()), (409, Some(2)));
        let ahead = made_on(2, Some(3)).unwrap_err();
        assert!(ahead.details().detail.contains("still being recorded"), "{}", ahead.details().detail);
    }
}
