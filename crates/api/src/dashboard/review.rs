//! What people do on the pages, answered with fragments htmx swaps in:
//! decide ideas, check and save a listing's text as it is typed, approve
//! listings, send dead letters back. Each goes through the same command
//! code as `/api/v1`, with the person as the actor.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum_extra::extract::Form;
use pod_events::domain::idea::IdeaCommand;
use pod_events::domain::text::RejectReason;

use super::pages::{Check, Hit, checks_of, hits_of};
use super::render;
use crate::AppState;
use crate::auth::{Caller, Role};
use crate::problem::{FieldError, Problem};
use crate::routes::{dead_letters, ideas, listings, trends};

/// The outcome of an action, in a sentence, in place of its buttons.
#[derive(Template)]
#[template(path = "fragments/outcome.html")]
struct Outcome {
    ok: bool,
    message: String,
}

pub(crate) fn outcome(result: Result<String, Problem>) -> Response {
    match result {
        Ok(message) => render(&Outcome { ok: true, message }),
        Err(p) => {
            // A field's own message says what to fix; the detail only names the fields.
            let d = p.details();
            let message = if d.errors.is_empty() {
                d.detail.clone()
            } else {
                d.errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ")
            };
            render(&Outcome { ok: false, message })
        }
    }
}

pub async fn approve_idea(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let by = caller.actor();
    let done = ideas::decide(caller, s, id, headers, IdeaCommand::Approve { by }).await;
    outcome(done.map(|_| "Approved — its design is being rendered.".to_owned()))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct Reason {
    #[serde(default)]
    reason: String,
}

pub async fn reject_idea(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(r): Form<Reason>,
) -> Response {
    let reason = if r.reason.trim().is_empty() { "rejected on review" } else { r.reason.as_str() };
    let reason = match RejectReason::parse(reason) {
        Ok(r) => r,
        Err(e) => return outcome(Err(e.into())),
    };
    let by = caller.actor();
    let done = ideas::decide(caller, s, id, headers, IdeaCommand::Reject { by, reason }).await;
    outcome(done.map(|_| "Rejected.".to_owned()))
}

pub async fn replace_idea(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let done = ideas::replace(&s, &caller, &id, &headers).await;
    outcome(done.map(|_| "A new idea is on its way; this one steps aside when it arrives.".to_owned()))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct Count {
    #[serde(default)]
    count: Option<u32>,
}

pub async fn more_ideas(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    Form(c): Form<Count>,
) -> Response {
    let done = async {
        let id = crate::routes::uuid_path("trend", &raw)?;
        let count = c.count.unwrap_or(3);
        trends::request_ideas(&s, &caller, id, count, None, &headers).await?;
        Ok(format!(
            "{count} more idea{} on the way: they appear in Idea review as they are screened.",
            if count == 1 { "" } else { "s" }
        ))
    };
    outcome(done.await)
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
fn edit_of(form: &EditorForm, current: &listings::Listing) -> (listings::Edit, Vec<FieldError>) {
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
    pub(crate) async fn stored(s: &AppState, caller: &Caller, now: &listings::Listing) -> Result<Self, Problem> {
        Ok(Self {
            errors: Vec::new(),
            invalid: String::new(),
            score: now.seo_score,
            checks: checks_of(&now.seo_checks),
            hits: super::pages::stored_hits(s, &caller.tenant, now.listing_id).await?,
            verdict: now.verdict.clone().unwrap_or_else(|| "green".into()),
            changed: false,
            saved: None,
            conflict: None,
            revisions: None,
        })
    }
}

async fn current(caller: &Caller, s: &AppState, id: &str) -> Result<listings::Listing, Problem> {
    Ok(listings::one(caller.clone(), State(s.clone()), Path(id.to_owned())).await?.0)
}

/// Checks the form as it is typed: every field's error in Etsy's words,
/// and the SEO score and screening the text would get. Records nothing.
pub async fn check_listing(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<EditorForm>,
) -> Result<Response, Problem> {
    let now = current(&caller, &s, &id).await?;
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
    now: &listings::Listing,
    form: &EditorForm,
) -> Result<(ListingCheck, Option<(pod_events::domain::listing::ListingRevised, i32)>), Problem> {
    let (edit, mut errors) = edit_of(form, now);
    if let Err(more) = listings::validate(&edit) {
        errors.extend(in_boxes(more, &tag_boxes(form)));
    }
    let changed =
        edit.title.is_some() || edit.description.is_some() || edit.tags.is_some() || edit.price_cents.is_some();
    let mut check = ListingCheck::stored(s, caller, now).await?;
    check.invalid = errors.iter().map(|e| e.field.clone()).collect::<Vec<_>>().join(",");
    check.changed = changed;
    if !errors.is_empty() {
        check.errors = shown(&errors);
        return Ok((check, None));
    }
    if !changed {
        return Ok((check, None));
    }
    let text = listings::current_text(s, &caller.tenant, now.listing_id).await?;
    let text_revision = text.5;
    match listings::draft_revision(s, text, &edit, caller.actor()) {
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
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<EditorForm>,
) -> Result<Response, Problem> {
    caller.require(Role::Editor)?;
    let now = current(&caller, &s, &id).await?;
    let (mut check, revision) = assess(&s, &caller, &now, &form).await?;
    let Some((revision, text_revision)) = revision else {
        return Ok(render(&check));
    };
    let meta =
        crate::routes::command_meta(&s, &caller.tenant, "listings/edit", now.listing_id, &headers, &form).await?;
    let recorded = match listings::made_on(text_revision, form.expected_revisions) {
        Ok(made_on) => listings::record_revision(&s, &caller, now.listing_id, revision, Some(made_on), &meta).await,
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

pub async fn approve_listing(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let done = listings::approve_listing(&s, &caller, &id, &headers).await;
    outcome(done.map(|_| "Approved — ready to publish.".to_owned()))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct Keywords {
    #[serde(default)]
    keywords: String,
}

/// Typed keywords, one per line, imported as a list of trends.
pub async fn import_keywords(caller: Caller, State(s): State<AppState>, Form(k): Form<Keywords>) -> Response {
    let lines: Vec<&str> = k.keywords.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        return outcome(Err(Problem::bad_request("keywords", "type at least one keyword")));
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut rows = vec![vec!["keyword".to_owned()]];
    rows.extend(lines.iter().map(|l| vec![(*l).to_owned()]));
    for row in &rows {
        if let Err(e) = w.write_record(row) {
            return outcome(Err(Problem::internal(e)));
        }
    }
    let body = match w.into_inner() {
        Ok(b) => b,
        Err(e) => return outcome(Err(Problem::internal(e))),
    };
    let format = pod_trendlists::parse::Format::Csv;
    let done = crate::routes::trends::import_list(&s, &caller, format, &body, "dashboard").await;
    outcome(done.map(|r| {
        format!("Imported {} trends: {} new observations, {} already known.", r.keywords, r.persisted, r.duplicates)
    }))
}

/// Another take of a design, in the next layout and palette.
pub async fn regenerate_design(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let wanted = crate::routes::designs::Regeneration::default();
    let done = crate::routes::designs::regenerate_design(&s, &caller, &id, wanted, &headers).await;
    outcome(done.map(|_| "Another take is being rendered; it replaces this one in a moment.".to_owned()))
}

pub async fn retry_dead_letter(caller: Caller, State(s): State<AppState>, Path(seq): Path<String>) -> Response {
    let done = dead_letters::retry(caller, State(s), Path(seq)).await;
    outcome(done.map(|(_, letter)| format!("Sent back to the {} worker.", letter.0.worker)))
}

#[cfg(test)]
mod tests {
    use super::{label_of, parse_price};

    fn listing() -> crate::routes::listings::Listing {
        crate::routes::listings::Listing {
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
        let errors = crate::routes::listings::validate(&edit).unwrap_err();
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
