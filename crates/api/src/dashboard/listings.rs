//! Listings and the listing editor: the list, one listing with its
//! design, checks and history; checking the text as it is typed, saving
//! it as a revision, approving it.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum_extra::extract::Form;

use super::views::{Check, Hit, ListingRow, ago, checks_of, hits_of};
use super::{PageError, Person, Shell, outcome, render};
use crate::AppState;
use crate::auth::{Caller, Role};
use crate::command::CommandRequest;
use crate::extract::{PathId, Query};
use crate::pagination::{Page, PageQuery};
use crate::problem::{FieldError, Problem};
use crate::routes::listings;
use pod_projections::read::designs::{self, Design};
use pod_projections::read::listings::{self as read, Listing, Revision};

#[derive(Template)]
#[template(path = "listings.html")]
struct ListingsPage {
    shell: Shell,
    status: String,
    listings: Vec<ListingRow>,
    next: Option<String>,
}

pub async fn listings(
    Person(session): Person,
    State(s): State<AppState>,
    Query(filter): Query<read::Filter>,
    Query(page): Query<PageQuery>,
) -> Result<Response, PageError> {
    let status = filter.status.map(|s| s.as_str()).unwrap_or_default().to_owned();
    let found = Page::of(read::list(&s.pool, &session.tenant, &filter, &page.keyset()?).await?);
    Ok(render(&ListingsPage {
        shell: Shell::load(&s, &session, "listings").await?,
        status,
        listings: found.items.into_iter().map(ListingRow::from).collect(),
        next: found.next,
    }))
}

#[derive(Template)]
#[template(path = "listing.html")]
pub(crate) struct ListingPage {
    pub shell: Shell,
    pub listing: ListingRow,
    pub design: Option<Design>,
    /// The checks panel, the same fragment the editor's live checks swap in.
    pub checks_html: String,
    /// The listing's history, newest first.
    pub history: Vec<Step>,
    /// Thirteen tag boxes: the tags, then empty ones.
    pub tag_slots: Vec<String>,
    /// The shops it can be published to.
    pub shops: Vec<super::publishing::ShopChoice>,
}

pub async fn listing(
    Person(session): Person,
    State(s): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, PageError> {
    let caller = session.caller();
    let listing = current(&caller, &s, id).await?;
    // The design is a side panel: the listing shows without it.
    let design = designs::one(&s.pool, &caller.tenant, listing.design_id).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, listing = %listing.listing_id, "reading the listing's design");
        None
    });
    let checks_html = ListingCheck::stored(&s, &caller, &listing)
        .await?
        .render()
        .map_err(|e| Problem::internal(format!("rendering the checks: {e}")))?;
    let history = read::history(&s.pool, &caller.tenant, listing.listing_id)
        .await?
        .iter()
        .rev()
        .map(|r| step_of(r, session.user_id))
        .collect();
    let mut tag_slots = listing.tags.clone();
    tag_slots.resize(pod_events::domain::listing_text::MAX_TAGS.max(tag_slots.len()), String::new());
    Ok(render(&ListingPage {
        shell: Shell::load(&s, &session, "listings").await?,
        listing: listing.into(),
        design,
        checks_html,
        history,
        tag_slots,
        shops: super::publishing::publishable_shops(&s, &caller.tenant).await?,
    }))
}

/// A step of a listing's history, in words.
pub struct Step {
    pub what: String,
    pub who: String,
    pub age: String,
}

/// "Edited title, tags", "by you" / "by a teammate" / "by a program" / "by the pipeline".
pub fn step_of(r: &Revision, me: uuid::Uuid) -> Step {
    let c = &r.changes;
    let what = match r.event_type.as_str() {
        "ListingDrafted" => "Drafted".to_owned(),
        "ListingRevised" => {
            let fields: Vec<&str> =
                [("title", "title"), ("description", "description"), ("tags", "tags"), ("price_cents", "price")]
                    .iter()
                    .filter(|(k, _)| !c[*k].is_null())
                    .map(|(_, label)| *label)
                    .collect();
            let score = c["seo_score"].as_u64().map(|s| format!(" (SEO {s})")).unwrap_or_default();
            if fields.is_empty() { format!("Re-scored{score}") } else { format!("Edited {}{score}", fields.join(", ")) }
        }
        "ListingApproved" => "Approved".to_owned(),
        "ListingSubmitted" => "Queued for publishing".to_owned(),
        "ListingPublished" => "Published".to_owned(),
        "ListingPublishFailed" => format!("Publishing failed: {}", c["reason"].as_str().unwrap_or("")),
        "ListingExternalIdRecorded" => match c["kind"].as_str() {
            Some("etsy_listing") => format!("Drafted on Etsy as listing {}", c["id"].as_str().unwrap_or("")),
            _ => format!("Made on Printify as product {}", c["id"].as_str().unwrap_or("")),
        },
        "ListingPublishRequested" => "Asked the marketplace to publish it".to_owned(),
        "ListingProductStarted" => "Making it on the marketplace".to_owned(),
        "ListingMarketplaceStateChanged" => marketplace_state_words(c["state"].as_str().unwrap_or_default()).to_owned(),
        other => other.to_owned(),
    };
    let who = match (c["by"]["kind"].as_str(), c["by"]["user_id"].as_str()) {
        (_, Some(u)) if u == me.to_string() => "by you".to_owned(),
        (_, Some(_)) => "by a teammate".to_owned(),
        (Some("policy"), _) => format!("by {}", c["by"]["name"].as_str().unwrap_or("a program")),
        _ => "by the pipeline".to_owned(),
    };
    Step { what, who, age: ago(r.at) }
}

/// What a poll of the marketplace found of a published listing, in words.
pub(crate) fn marketplace_state_words(state: &str) -> &'static str {
    match state {
        "active" => "For sale on the marketplace again",
        "inactive" => "Deactivated on the marketplace",
        "sold_out" => "Sold out on the marketplace",
        "expired" => "Expired on the marketplace",
        "removed" => "Deleted on the marketplace",
        _ => "Changed on the marketplace",
    }
}

/// The editor's fields as the browser sends them.
#[derive(Debug, Default, serde::Deserialize)]
pub struct EditorForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    price: String,
    expected_revisions: Option<u32>,
}

/// `24.99` → 2499 cents.
pub fn parse_price(raw: &str) -> Result<i64, String> {
    let raw = raw.trim().trim_start_matches('$');
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let ok = !whole.is_empty()
        && whole.len() <= 6
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 2
        && frac.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err("must be an amount like 24.99".into());
    }
    let cents = format!("{frac:0<2}").parse::<i64>().unwrap_or(0);
    Ok(whole.parse::<i64>().unwrap_or(0) * 100 + cents)
}

/// The edit the form makes: only the fields that differ from the listing
/// as it reads now; a bad price is reported with the other fields' errors.
fn edit_of(form: &EditorForm, current: &Listing) -> (listings::Edit, Vec<FieldError>) {
    let mut errors = Vec::new();
    let tags: Vec<String> = form.tags.iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect();
    // Browsers send a textarea's line breaks as CRLF (HTML form encoding).
    let description = form.description.replace("\r\n", "\n");
    let price = match parse_price(&form.price) {
        Ok(p) => Some(p),
        Err(message) => {
            errors.push(FieldError { field: "price".into(), message });
            None
        }
    };
    let edit = listings::Edit {
        title: (form.title != current.title).then(|| form.title.clone()),
        description: (description != current.description).then_some(description),
        tags: (tags != current.tags).then_some(tags),
        price_cents: price.filter(|p| *p != current.price_cents),
        expected_revisions: form.expected_revisions,
    };
    (edit, errors)
}

/// A field's error as the editor shows it: `tags[1]` reads "Tag 2".
pub struct ShownError {
    pub field: String,
    pub label: String,
    pub message: String,
}

pub fn label_of(field: &str) -> String {
    if let Some(i) = field.strip_prefix("tags[").and_then(|r| r.strip_suffix(']')).and_then(|i| i.parse::<usize>().ok())
    {
        return format!("Tag {}", i + 1);
    }
    match field {
        "title" => "Title".into(),
        "description" => "Description".into(),
        "tags" => "Tags".into(),
        "price" | "price_cents" => "Price".into(),
        other => other.to_owned(),
    }
}

fn shown(errors: &[FieldError]) -> Vec<ShownError> {
    errors
        .iter()
        .map(|e| ShownError { field: e.field.clone(), label: label_of(&e.field), message: e.message.clone() })
        .collect()
}

#[derive(Template)]
#[template(path = "fragments/listing_check.html")]
pub(crate) struct ListingCheck {
    errors: Vec<ShownError>,
    /// The fields in error, for the script that marks their inputs.
    invalid: String,
    score: i32,
    checks: Vec<Check>,
    hits: Vec<Hit>,
    verdict: String,
    changed: bool,
    saved: Option<String>,
    conflict: Option<String>,
    revisions: Option<i32>,
}

impl ListingCheck {
    /// The listing's checks as recorded: its score, checks and hits.
    pub(crate) async fn stored(s: &AppState, caller: &Caller, now: &Listing) -> Result<Self, Problem> {
        Ok(Self {
            errors: Vec::new(),
            invalid: String::new(),
            score: now.seo_score,
            checks: checks_of(&now.seo_checks),
            hits: read::screening_hits(&s.pool, &caller.tenant, now.listing_id)
                .await?
                .map(|v| hits_of(&v))
                .unwrap_or_default(),
            verdict: now.verdict.clone().unwrap_or_else(|| "green".into()),
            changed: false,
            saved: None,
            conflict: None,
            revisions: None,
        })
    }
}

async fn current(caller: &Caller, s: &AppState, id: uuid::Uuid) -> Result<Listing, Problem> {
    read::one(&s.pool, &caller.tenant, id).await?.ok_or_else(|| Problem::not_found("listing"))
}

/// Checks the form as it is typed: every field's error in Etsy's words,
/// and the SEO score and screening the text would get. Records nothing.
pub async fn check_listing(
    caller: Caller,
    State(s): State<AppState>,
    PathId(id): PathId,
    Form(form): Form<EditorForm>,
) -> Result<Response, Problem> {
    let now = current(&caller, &s, id).await?;
    Ok(render(&assess(&s, &caller, &now, &form).await?.0))
}

/// The form's tag boxes that hold a tag, by position: `tags[i]` of the
/// edit is box `boxes[i]` on the page.
fn tag_boxes(form: &EditorForm) -> Vec<usize> {
    form.tags.iter().enumerate().filter(|(_, t)| !t.trim().is_empty()).map(|(i, _)| i).collect()
}

/// Names a tag error by the box it is in, not by its place among the filled ones.
fn in_boxes(mut errors: Vec<FieldError>, boxes: &[usize]) -> Vec<FieldError> {
    for e in &mut errors {
        if let Some(i) =
            e.field.strip_prefix("tags[").and_then(|r| r.strip_suffix(']')).and_then(|i| i.parse::<usize>().ok())
            && let Some(b) = boxes.get(i)
        {
            e.field = format!("tags[{b}]");
        }
    }
    errors
}

/// The check of a form, and the revision it would record when it is clean.
async fn assess(
    s: &AppState,
    caller: &Caller,
    now: &Listing,
    form: &EditorForm,
) -> Result<(ListingCheck, Option<(pod_events::domain::listing::Revision, i32)>), Problem> {
    let (edit, mut errors) = edit_of(form, now);
    let parsed = match edit.parse() {
        Ok(parsed) => Some(parsed),
        Err(more) => {
            errors.extend(in_boxes(more, &tag_boxes(form)));
            None
        }
    };
    let changed =
        edit.title.is_some() || edit.description.is_some() || edit.tags.is_some() || edit.price_cents.is_some();
    let mut check = ListingCheck::stored(s, caller, now).await?;
    check.invalid = errors.iter().map(|e| e.field.clone()).collect::<Vec<_>>().join(",");
    check.changed = changed;
    let Some(parsed) = parsed.filter(|_| errors.is_empty()) else {
        check.errors = shown(&errors);
        return Ok((check, None));
    };
    if !changed {
        return Ok((check, None));
    }
    let text = listings::current_text(s, &caller.tenant, now.listing_id).await?;
    let text_revision = text.revisions;
    match listings::draft_revision(s, text, parsed, caller.actor()) {
        Ok(revision) => {
            check.score = i32::from(revision.seo_score);
            check.checks = checks_of(&serde_json::to_value(&revision.seo_checks).unwrap_or_default());
            if let Some(screening) = &revision.screening {
                check.hits = hits_of(&serde_json::to_value(&screening.hits).unwrap_or_default());
                check.verdict = screening.verdict.as_str().to_owned();
            }
            Ok((check, Some((revision, text_revision))))
        }
        Err(p) => {
            check.invalid = p.details().errors.iter().map(|e| e.field.clone()).collect::<Vec<_>>().join(",");
            check.errors = shown(&p.details().errors);
            Ok((check, None))
        }
    }
}

/// Saves the form as a revision of the listing, made on the revision the
/// page showed: if someone else saved since, nothing is overwritten.
pub async fn save_listing(
    cmd: CommandRequest,
    State(s): State<AppState>,
    PathId(id): PathId,
    Form(form): Form<EditorForm>,
) -> Result<Response, Problem> {
    cmd.require(Role::Editor)?;
    let now = current(&cmd.caller, &s, id).await?;
    let (mut check, revision) = assess(&s, &cmd.caller, &now, &form).await?;
    let Some((revision, text_revision)) = revision else {
        return Ok(render(&check));
    };
    let meta = cmd.meta(&s, "listings/edit", now.listing_id, &form).await?;
    let recorded = match listings::made_on(text_revision, form.expected_revisions) {
        Ok(made_on) => listings::record_revision(&s, &cmd, now.listing_id, revision, Some(made_on), &meta).await,
        Err(p) => Err(p),
    };
    match recorded {
        Ok(()) => {
            let next = form.expected_revisions.map(|r| r as i32 + 1).unwrap_or(now.revisions + 1);
            check.saved = Some(format!("Saved as revision {next}."));
            check.revisions = Some(next);
            check.changed = false;
        }
        Err(p) => {
            let current = p.details().extensions.get("current_revisions").and_then(|v| v.as_i64());
            check.conflict = Some(match current {
                Some(n) => format!(
                    "Someone saved this listing while you were editing (it is at revision {n} now). Reload to see their change; your text is still in the form."
                ),
                None => p.details().detail.clone(),
            });
        }
    }
    Ok(render(&check))
}

pub async fn approve_listing(cmd: CommandRequest, State(s): State<AppState>, PathId(id): PathId) -> Response {
    let done = listings::approve_listing(&s, &cmd, id).await;
    outcome(done.map(|_| "Approved — ready to publish.".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::{label_of, parse_price};

    fn listing() -> pod_projections::read::listings::Listing {
        pod_projections::read::listings::Listing {
            listing_id: uuid::Uuid::nil(),
            idea_id: uuid::Uuid::nil(),
            design_id: uuid::Uuid::nil(),
            title: "Cat Mom Shirt".into(),
            description: "First line.\nSecond line.".into(),
            tags: vec!["cat mom".into(), "cat lover".into()],
            price_cents: 2499,
            currency: "EUR".into(),
            seo_score: 50,
            seo_checks: serde_json::json!([]),
            verdict: None,
            status: "draft".into(),
            revisions: 0,
            updated_at: chrono::Utc::now(),
            version: 1,
        }
    }

    fn form(description: &str, tags: &[&str]) -> super::EditorForm {
        super::EditorForm {
            title: "Cat Mom Shirt".into(),
            description: description.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            price: "24.99".into(),
            expected_revisions: Some(0),
        }
    }

    #[test]
    fn an_untouched_form_changes_nothing_even_with_the_browsers_crlf() {
        let (edit, errors) =
            super::edit_of(&form("First line.\r\nSecond line.", &["cat mom", "", "cat lover"]), &listing());
        assert!(errors.is_empty());
        assert!(
            edit.description.is_none() && edit.tags.is_none() && edit.price_cents.is_none() && edit.title.is_none()
        );
    }

    #[test]
    fn a_tag_error_names_the_box_it_is_in() {
        let f = form("x", &["cat mom", "", "", "a tag far longer than twenty"]);
        let (edit, _) = super::edit_of(&f, &listing());
        let errors = edit.parse().unwrap_err();
        assert_eq!(errors[0].field, "tags[1]", "second filled tag");
        let shown = super::in_boxes(errors, &super::tag_boxes(&f));
        assert_eq!(shown[0].field, "tags[3]", "the fourth box on the page");
    }

    #[test]
    fn fields_are_named_as_the_editor_shows_them() {
        assert_eq!(label_of("tags[0]"), "Tag 1");
        assert_eq!(label_of("tags[12]"), "Tag 13");
        assert_eq!(label_of("price_cents"), "Price");
        assert_eq!(label_of("tags[x]"), "tags[x]");
    }

    #[test]
    fn prices_are_read_as_a_seller_types_them() {
        assert_eq!(parse_price("24.99"), Ok(2499));
        assert_eq!(parse_price("$7"), Ok(700));
        assert_eq!(parse_price(" 12.5 "), Ok(1250));
        for bad in ["", "abc", "1.234", "-3", "1,50", "9999999"] {
            assert!(parse_price(bad).is_err(), "{bad}");
        }
    }
}
