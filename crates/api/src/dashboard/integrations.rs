//! Integrations: marketplace connections, the services the pipeline used,
//! and the sign-in providers a person can link.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use chrono::{Duration, Utc};

use super::{PageError, Person, Shell, render};
use crate::AppState;
use pod_projections::read::operations::{self, Providers};
use pod_projections::read::publishing::{self, Shop};

/// A marketplace connection, in words.
pub struct ShopRow {
    pub s: Shop,
    pub token: String,
}

#[derive(Template)]
#[template(path = "integrations.html")]
struct IntegrationsPage {
    shell: Shell,
    shops: Vec<ShopRow>,
    /// (service, what was used, how much)
    services: Vec<(&'static str, String, String)>,
    /// (provider name, label, linked to this person)
    sign_in: Vec<(String, String, bool)>,
}

pub async fn integrations(Person(session): Person, State(s): State<AppState>) -> Result<Response, PageError> {
    let caller = session.caller();
    let shops = publishing::shops(&s.pool, &caller.tenant).await?;
    let now = Utc::now();
    let shops = shops
        .into_iter()
        .map(|sh| {
            let token = match (&sh.needs_reconnect_reason, sh.token_expires_at) {
                (Some(why), _) if sh.needs_reconnect => format!("needs reconnecting: {why}"),
                _ if sh.needs_reconnect => "needs reconnecting".to_owned(),
                (_, None) => "does not expire".to_owned(),
                (_, Some(at)) if at <= now => "expired: reconnect".to_owned(),
                (_, Some(at)) if at - now < Duration::days(7) => format!("expires {}", at.format("%b %-d")),
                (_, Some(at)) => format!("valid until {}", at.format("%b %-d, %Y")),
            };
            ShopRow { s: sh, token }
        })
        .collect();
    let describe = |rows: Providers, (one, many): (&str, &str), none: &str| -> (String, String) {
        if rows.is_empty() {
            return ("—".into(), none.into());
        }
        let names: Vec<_> = rows.iter().map(|(n, _)| n.clone()).collect();
        let total: i64 = rows.iter().map(|(_, c)| c).sum();
        (names.join(", "), format!("{total} {}", if total == 1 { one } else { many }))
    };
    let used = operations::providers_used(&s.pool, &caller.tenant).await?;
    let ideas = describe(used.ideation, ("idea", "ideas"), "no ideas yet");
    let renderers = describe(used.rendering, ("design", "designs"), "no designs yet");
    let sources = describe(used.sources, ("refresh", "refreshes"), "no source refreshed yet");
    let services = vec![
        ("Ideation", ideas.0, ideas.1),
        ("Design rendering", renderers.0, renderers.1),
        ("Trend sources", sources.0, sources.1),
    ];
    let linked: Vec<String> = sqlx::query_scalar("SELECT provider FROM user_identities WHERE user_id = $1")
        .bind(session.user_id)
        .fetch_all(&s.pool)
        .await?;
    let sign_in = s.providers.iter().map(|p| (p.name.clone(), p.label.clone(), linked.contains(&p.name))).collect();
    Ok(render(&IntegrationsPage { shell: Shell::load(&s, &session, "integrations").await?, shops, services, sign_in }))
}
