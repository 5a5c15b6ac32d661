//! The team page and invitations: owners invite, the link works once, a new
//! person sets a password, someone with an account confirms theirs.

use axum::http::StatusCode;
use pod_api::auth::Role;

use crate::support::{Api, PASSWORD, Person};

const SITE: [(&str, &str); 2] = [("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")];
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

async fn invite(api: &Api, by: &Person, email: &str, role: &str) -> String {
    let headers = [("cookie", by.cookie.as_str()), ("x-csrf-token", by.csrf.as_str()), SITE[0], SITE[1], FORM];
    let (status, _, html) = api.send("POST", "/team/invitations", &headers, format!("email={email}&role={role}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    html
}

fn link_in(html: &str) -> String {
    let start = html.find("value=\"").map(|i| i + 7).expect("a link in the fragment");
    let url = &html[start..start + html[start..].find('"').unwrap()];
    url.trim_start_matches("http://127.0.0.1:8080").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_invite_and_the_link_makes_a_new_person_a_member_once() {
    let api = Api::new().await;
    let owner = api.person("acme", Role::Owner).await;
    let editor = api.person("acme", Role::Editor).await;
    // Only owners invite.
    let refused = invite(&api, &editor, "new@acme.example", "editor").await;
    assert!(refused.contains("outcome err"), "{refused}");
    let bad_role = invite(&api, &owner, "new@acme.example", "admin").await;
    assert!(bad_role.contains("choose viewer, editor or owner"), "{bad_role}");
    let already = invite(&api, &owner, &editor.email, "viewer").await;
    assert!(already.contains("already in this shop"), "{already}");

    let made = invite(&api, &owner, "New@Acme.example", "editor").await;
    assert!(made.contains("outcome ok") && made.contains("new@acme.example as editor"), "{made}");
    let link = link_in(&made);
    assert!(link.starts_with("/invite/"), "{link}");
    let (_, _, team) = api.send("GET", "/team", &[("cookie", &owner.cookie)], "").await;
    assert!(team.contains("Invitations waiting") && team.contains("new@acme.example"), "{team}");

    let (status, _, page) = api.send("GET", &link, &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Join acme") && page.contains("editor") && page.contains("Your name"), "{page}");
    // A short password is refused with the form kept.
    let (status, _, page) = api.send("POST", &link, &[SITE[0], SITE[1], FORM], "name=Nina+Park&password=short").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Nina Park") && page.contains("a password of at least 8 characters"), "{page}");
    // From another site: refused.
    let cross = [SITE[0], ("origin", "https://evil.example"), FORM];
    let (status, _, _) = api.send("POST", &link, &cross, format!("name=Nina&password={PASSWORD}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, _) =
        api.send("POST", &link, &[SITE[0], SITE[1], FORM], format!("name=Nina+Park&password={PASSWORD}")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let (status, _, team) = api.send("GET", "/team", &[("cookie", &cookie)], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(team.contains("Nina Park") && team.contains("new@acme.example"), "{team}");
    assert!(team.contains("Owners invite people"), "an editor sees no invite form: {team}");
    // Once only.
    let (status, _, page) = api.send("GET", &link, &[], "").await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("expired or was already used"), "{page}");
    let (status, _, _) =
        api.send("POST", &link, &[SITE[0], SITE[1], FORM], format!("name=Other&password={PASSWORD}")).await;
    assert_eq!(status, StatusCode::GONE);
    let (_, _, team) = api.send("GET", "/team", &[("cookie", &owner.cookie)], "").await;
    assert!(!team[team.find("Invitations waiting").unwrap()..].contains("new@acme.example"), "no longer waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_an_invitation_is_throttled_like_signing_in() {
    let api = Api::new().await;
    let owner = api.person("acme", Role::Owner).await;
    let link = link_in(&invite(&api, &owner, "guess@acme.example", "viewer").await);
    // Ten attempts a minute per email (as for signing in); the eleventh waits.
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let (status, _, _) = api.send("POST", &link, &[SITE[0], SITE[1], FORM], "name=X&password=short").await;
        statuses.push(status);
    }
    assert!(statuses[..10].iter().all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY), "{statuses:?}");
    assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_with_an_account_joins_another_shop_with_their_own_password() {
    let api = Api::new().await;
    let owner = api.person("acme", Role::Owner).await;
    let beta_person = api.person("beta", Role::Editor).await;
    let link = link_in(&invite(&api, &owner, &beta_person.email, "viewer").await);
    // The page and its refusal read the same whether or not the email has an account.
    let new_link = link_in(&invite(&api, &owner, "nobody-yet@acme.example", "viewer").await);
    let (_, _, page) = api.send("GET", &link, &[], "").await;
    let (_, _, new_page) = api.send("GET", &new_link, &[], "").await;
    assert_eq!(
        page.replace(&beta_person.email.replace('@', "&#64;"), "EMAIL").replace(&beta_person.email, "EMAIL"),
        new_page.replace("nobody-yet&#64;acme.example", "EMAIL").replace("nobody-yet@acme.example", "EMAIL"),
        "the invitation page must not tell whether an account exists"
    );
    let (status, _, page) = api.send("POST", &link, &[SITE[0], SITE[1], FORM], "password=not-the-password").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (new_status, _, new_page) = api.send("POST", &new_link, &[SITE[0], SITE[1], FORM], "password=short").await;
    assert_eq!(new_status, StatusCode::UNPROCESSABLE_ENTITY);
    let said = |p: &str| p[p.find("role=\"alert\"").unwrap()..].split("</li>").next().unwrap().to_owned();
    assert_eq!(said(&page), said(&new_page));
    assert!(said(&page).contains("that account&#39;s password"), "{page}");
    let (status, headers, _) = api.send("POST", &link, &[SITE[0], SITE[1], FORM], format!("password={PASSWORD}")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    // Signed in to acme as a viewer, and still in beta.
    let (_, _, overview) = api.send("GET", "/listings", &[("cookie", &cookie)], "").await;
    assert!(overview.contains("viewer"), "{overview}");
    let shops: Vec<String> = sqlx::query_scalar(
        "SELECT m.tenant FROM memberships m JOIN users u USING (user_id) WHERE u.email = $1 ORDER BY m.tenant",
    )
    .bind(&beta_person.email)
    .fetch_all(&api.pool)
    .await
    .unwrap();
    assert_eq!(shops, ["acme", "beta"]);
}
