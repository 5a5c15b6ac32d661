//! The shop's people: who is in it with which role, invitations waiting,
//! inviting someone (owners), and the invitation link's own page.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::{CookieJar, Form};
use chrono::{DateTime, Utc};

use super::views::ago;
use super::{PageError, Person, Shell, render};
use crate::AppState;
use crate::auth::invitations::{self, Pending};
use crate::auth::sessions::{self, check_origin};
use crate::auth::{AccountError, Role};
use crate::problem::Problem;

/// A person in the shop.
#[derive(Debug, sqlx::FromRow)]
pub struct Member {
    pub display_name: String,
    pub email: String,
    pub role: String,
    pub last_login_at: Option<DateTime<Utc>>,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    shell: Shell,
    members: Vec<(Member, String)>,
    pending: Vec<(Pending, String)>,
    is_owner: bool,
}

pub async fn team(Person(session): Person, State(s): State<AppState>) -> Result<Response, PageError> {
    let members: Vec<Member> = sqlx::query_as(
        "SELECT u.display_name, u.email, m.role, u.last_login_at FROM memberships m JOIN users u USING (user_id)
         WHERE m.tenant = $1
         ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'editor' THEN 1 ELSE 2 END, u.display_name, u.email",
    )
    .bind(&session.tenant)
    .fetch_all(&s.pool)
    .await?;
    let pending = invitations::pending(&s.pool, session.tenant.as_str()).await?;
    let is_owner = session.role == Role::Owner;
    Ok(render(&TeamPage {
        shell: Shell::load(&s, &session, "team").await?,
        members: members
            .into_iter()
            .map(|m| {
                let seen = m.last_login_at.map(ago).unwrap_or_else(|| "never signed in".into());
                (m, seen)
            })
            .collect(),
        pending: pending.into_iter().map(|p| (p.clone(), p.expires_at.format("%b %-d").to_string())).collect(),
        is_owner,
    }))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// The new invitation's link, to copy and send.
#[derive(Template)]
#[template(path = "fragments/invitation.html")]
struct Invited {
    ok: bool,
    message: String,
    link: String,
}

/// Owners invite (the session's CSRF token is checked by `Caller`).
pub async fn invite(caller: crate::auth::Caller, State(s): State<AppState>, Form(f): Form<InviteForm>) -> Response {
    let done = async {
        caller.require(Role::Owner)?;
        let Some(user) = caller.user_id() else {
            return Err(Problem::forbidden("invitations are sent by a person"));
        };
        let role =
            Role::parse(f.role.trim()).ok_or_else(|| Problem::bad_request("role", "choose viewer, editor or owner"))?;
        let secret = invitations::invite(&s.pool, caller.tenant.as_str(), &f.email, role, user)
            .await
            .map_err(account_problem)?;
        Ok((f.email.trim().to_lowercase(), role, format!("{}/invite/{secret}", s.public_url.trim_end_matches('/'))))
    };
    match done.await {
        Ok((email, role, link)) => render(&Invited {
            ok: true,
            message: format!(
                "Invitation for {email} as {}: send them this link (it works once, for {} days).",
                role.as_str(),
                invitations::INVITATION_DAYS
            ),
            link,
        }),
        Err(p) => render(&Invited { ok: false, message: p.details().detail.clone(), link: String::new() }),
    }
}

fn account_problem(e: AccountError) -> Problem {
    match e {
        AccountError::Invalid { field, reason } => Problem::bad_request(field, reason),
        AccountError::Taken(what) => Problem::bad_request(what, format!("{what} is already taken")),
        AccountError::Db(e) => Problem::from(e),
        other => Problem::internal(other),
    }
}

#[derive(Template, Default)]
#[template(path = "invite.html")]
struct InvitePage {
    shop_name: String,
    email: String,
    role: String,
    name: String,
    error: Option<String>,
}

pub async fn invitation_page(State(s): State<AppState>, Path(secret): Path<String>) -> Result<Response, PageError> {
    Ok(match invitations::lookup(&s.pool, &secret).await? {
        Some(i) => render(&InvitePage {
            shop_name: i.shop_name,
            email: i.email,
            role: i.role.as_str().into(),
            ..Default::default()
        }),
        None => gone(),
    })
}

fn gone() -> Response {
    let page = InvitePage {
        error: Some("This invitation has expired or was already used. Ask the shop's owner for a new one.".into()),
        ..Default::default()
    };
    (StatusCode::GONE, render(&page)).into_response()
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// Accepting: the person joins the shop and is signed in there. Throttled
/// like signing in (a password is checked), per email and per address.
pub async fn accept(
    State(s): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    Path(secret): Path<String>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<AcceptForm>,
) -> Result<Response, PageError> {
    use crate::auth::throttle::{Limited, client_address};
    check_origin(&headers)?;
    let Some(found) = invitations::lookup(&s.pool, &secret).await? else {
        return Ok(gone());
    };
    let address = client_address(peer.map(|p| p.0.0), &headers, s.trusted_proxies);
    if let Err(limited) = s.login_throttle.allows(address, &found.email) {
        let why = match limited {
            Limited::Email => "Too many attempts for this invitation; wait a minute and try again.",
            Limited::Address => "Too many attempts from this address; wait a minute and try again.",
        };
        let page = InvitePage {
            shop_name: found.shop_name,
            email: found.email,
            role: found.role.as_str().into(),
            name: f.name,
            error: Some(why.into()),
        };
        return Ok((StatusCode::TOO_MANY_REQUESTS, render(&page)).into_response());
    }
    match invitations::accept(&s.pool, &secret, &f.name, &f.password).await {
        Ok(user) => {
            let secret = sessions::start(&s.pool, &s.sessions, user.user_id, &found.tenant).await?;
            Ok((jar.add(s.sessions.cookie(secret)), Redirect::to("/")).into_response())
        }
        Err(AccountError::Invalid { field: "invitation", .. }) => Ok(gone()),
        Err(AccountError::Invalid { reason, .. } | AccountError::NoTenant(reason)) => {
            let page = InvitePage {
                shop_name: found.shop_name,
                email: found.email,
                role: found.role.as_str().into(),
                name: f.name,
                error: Some(reason),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(e) => Err(account_problem(e).into()),
    }
}
