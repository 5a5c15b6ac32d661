//! The overview's live feed: the tenant's events as they happen, each told
//! in a sentence with a link to what it is about, sent as ready-to-insert
//! HTML over Server-Sent Events (the JSON twin is `/api/v1/feed`).

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use pod_events::envelope::H_EVENT_TYPE;
use serde_json::Value;

use super::Person;
use crate::AppState;
use crate::problem::Problem;

/// One line of the feed.
#[derive(Debug, Clone, PartialEq, Template)]
#[template(path = "fragments/feed_item.html")]
pub struct FeedItem {
    /// `trend`, `idea`, `design`, `listing`, … (the icon and colour).
    pub kind: String,
    pub sentence: String,
    pub link: Option<String>,
    pub tone: &'static str,
}

fn text(payload: &Value, key: &str) -> String {
    payload.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// What an event says, for a person. Unknown types are still shown, by name.
pub fn describe(event_type: &str, aggregate_type: &str, id: &str, payload: &Value) -> FeedItem {
    let link = |path: &str| Some(format!("/{path}/{id}"));
    let (sentence, link, tone) = match event_type {
        "TrendObserved" => {
            let niche = text(payload, "niche");
            (
                format!("Trend “{}” spotted in {}", text(payload, "keyword"), niche.replace('_', " ")),
                link("trends"),
                "info",
            )
        }
        "TrendIdeated" => {
            let n = payload.get("ideas").and_then(Value::as_u64).unwrap_or(0);
            (format!("{n} ideas generated from a trend"), link("trends"), "info")
        }
        "TrendRetired" => ("A trend was retired".to_owned(), link("trends"), "muted"),
        "TrendIdeasRequested" => {
            let n = payload.get("count").and_then(Value::as_u64).unwrap_or(0);
            let what = if payload.get("replacing").is_some_and(Value::is_string) {
                "A replacement idea is on its way".to_owned()
            } else {
                format!("{n} more idea{} on the way", if n == 1 { "" } else { "s" })
            };
            (what, link("trends"), "info")
        }
        "IdeaGenerated" => (format!("New idea: “{}”", text(payload, "phrase")), Some("/ideas?view=all".into()), "info"),
        "IdeaScreened" => {
            let verdict = text(payload, "verdict");
            let tone = match verdict.as_str() {
                "red" => "bad",
                "amber" => "warn",
                _ => "good",
            };
            let what = match verdict.as_str() {
                "red" => "blocked: it names a protected mark",
                "amber" => "needs your review",
                _ => "is clear",
            };
            (format!("An idea {what}"), Some("/ideas".into()), tone)
        }
        "IdeaApproved" => ("An idea was approved".to_owned(), Some("/ideas?view=approved".into()), "good"),
        "IdeaRejected" => (format!("An idea was rejected: {}", text(payload, "reason")), None, "muted"),
        "DesignRequested" => ("A design is being rendered".to_owned(), Some("/designs".into()), "info"),
        "DesignRendered" => ("A design was rendered".to_owned(), Some("/designs".into()), "good"),
        "DesignFailed" => (format!("A design failed: {}", text(payload, "reason")), Some("/designs".into()), "bad"),
        "ListingDrafted" => (format!("Listing drafted: “{}”", text(payload, "title")), link("listings"), "good"),
        "ListingRevised" => ("A listing was edited".to_owned(), link("listings"), "info"),
        "ListingApproved" => ("A listing was approved".to_owned(), link("listings"), "good"),
        "ListingSubmitted" => ("A listing was queued for publishing".to_owned(), link("listings"), "info"),
        "ListingPublished" => ("A listing went live".to_owned(), link("listings"), "good"),
        "ListingPublishFailed" => ("Publishing a listing failed".to_owned(), link("listings"), "bad"),
        "SourceRefreshed" => {
            let persisted = payload.get("persisted").and_then(Value::as_u64).unwrap_or(0);
            (
                format!("Source “{}” refreshed: {persisted} new", text(payload, "source")),
                Some("/operations".into()),
                "muted",
            )
        }
        "BudgetExhausted" => {
            ("This month's budget for paid calls is spent".to_owned(), Some("/operations".into()), "bad")
        }
        other => (other.to_owned(), None, "muted"),
    };
    FeedItem { kind: aggregate_type.to_owned(), sentence, link, tone }
}

pub async fn stream(
    Person(session): Person,
    State(s): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let tenant = session.tenant.clone();
    let sub = s.nats.subscribe(s.ns.tenant_events("*", &tenant)).await.map_err(Problem::internal)?;
    let ns = s.ns.clone();
    let events = sub.filter_map(move |msg| {
        let event_type =
            msg.headers.as_ref().and_then(|h| h.get(H_EVENT_TYPE)).map(|v| v.as_str().to_owned()).unwrap_or_default();
        let (aggregate_type, id) = ns
            .parse_subject(msg.subject.as_str())
            .map(|p| (p.aggregate_type.to_owned(), p.id.to_owned()))
            .unwrap_or_default();
        let payload: Value = serde_json::from_slice(&msg.payload).unwrap_or(Value::Null);
        let html = describe(&event_type, &aggregate_type, &id, &payload).render().ok();
        async move { html.map(|h| Ok(Event::default().data(h.replace('\n', " ")))) }
    });
    let events = crate::routes::feed::watched(&s, session.caller(), Box::pin(events))?;
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_read_as_sentences_with_links() {
        let item = describe("TrendObserved", "trend", "abc", &json!({"keyword": "axolotl mom", "niche": "pets"}));
        assert_eq!(item.sentence, "Trend “axolotl mom” spotted in pets");
        assert_eq!(item.link.as_deref(), Some("/trends/abc"));
        let red = describe("IdeaScreened", "idea", "x", &json!({"verdict": "red"}));
        assert_eq!(red.tone, "bad");
        assert!(red.sentence.contains("protected mark"));
        let unknown = describe("OrderPaid", "order", "o", &json!({}));
        assert_eq!(unknown.sentence, "OrderPaid");
    }

    #[test]
    fn a_line_escapes_what_the_event_says() {
        let item = describe("IdeaGenerated", "idea", "i", &json!({"phrase": "<script>alert(1)</script>"}));
        let html = item.render().unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;") || html.contains("&#60;script"), "{html}");
    }
}
