//! The dashboard in Debian's Chromium (headless_chrome), against the real
//! server on 127.0.0.1: sign in, watch a trend arrive in the live feed,
//! approve an idea, fix an invalid tag and see its error clear, download
//! the CSV. Screenshots of the main pages are saved as test artefacts
//! under `$CARGO_TARGET_TMPDIR/screenshots/`.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use pod_api::auth::Role;

use crate::support::{Api, PASSWORD};

const CHROMIUM: &str = "/usr/bin/chromium";

fn browser() -> Browser {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "this test needs Chromium at {CHROMIUM}. Install it with `scripts/services.sh` (apt-get install chromium)."
    );
    let args = [
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--disable-dev-shm-usage",
        "--disable-gpu",
    ];
    let options = LaunchOptions::default_builder()
        .path(Some(PathBuf::from(CHROMIUM)))
        .headless(true)
        .sandbox(false)
        .window_size(Some((1400, 1000)))
        .args(args.iter().map(OsStr::new).collect())
        .idle_browser_timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    Browser::new(options).unwrap_or_else(|e| panic!("starting Chromium: {e}"))
}

/// Evaluates `js` (an expression) until it is true, or fails naming it.
fn wait_for(tab: &Tab, js: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let value = tab.evaluate(js, false).ok().and_then(|r| r.value);
        if value == Some(serde_json::Value::Bool(true)) {
            return;
        }
        if Instant::now() > deadline {
            let html = tab.get_content().unwrap_or_default();
            panic!("waited 20 s for {what} ({js}); the page:\n{}", &html[..html.len().min(4000)]);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn eval_string(tab: &Tab, js: &str) -> String {
    tab.evaluate(js, true).unwrap().value.and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn screenshot(tab: &Tab, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = tab.capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a screenshot is a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Sets an input's value as typing would, so the page's listeners run.
fn type_into(tab: &Tab, selector: &str, value: &str) {
    let js = format!(
        "(() => {{ const el = document.querySelector({sel}); el.focus(); el.value = {val};
           el.dispatchEvent(new Event('input', {{bubbles: true}})); return true; }})()",
        sel = serde_json::to_string(selector).unwrap(),
        val = serde_json::to_string(value).unwrap()
    );
    tab.evaluate(&js, false).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_signs_in_follows_a_trend_and_reviews_a_listing() {
    let api = Api::new().await;
    let ana = api.person("acme", Role::Owner).await;
    let (base, server) = api.serve().await;
    let (idea, listing) = (api.seeded.acme_idea, api.seeded.acme_listing);
    let runtime = tokio::runtime::Handle::current();
    let api = std::sync::Arc::new(api);
    let shared = api.clone();

    tokio::task::spawn_blocking(move || {
        let api = shared;
        let browser = browser();
        let tab = browser.new_tab().unwrap();

        // Sign in: any page sends a stranger to the sign-in form and back.
        tab.navigate_to(&format!("{base}/listings")).unwrap().wait_until_navigated().unwrap();
        wait_for(&tab, "location.pathname === '/login'", "the sign-in page");
        screenshot(&tab, "login");
        tab.wait_for_element("#email").unwrap().click().unwrap();
        tab.type_str(&ana.email).unwrap();
        tab.wait_for_element("#password").unwrap().click().unwrap();
        tab.type_str(PASSWORD).unwrap();
        tab.wait_for_element("button[type=submit]").unwrap().click().unwrap();
        wait_for(&tab, "location.pathname === '/listings' && !!document.querySelector('table')", "the listings");
        screenshot(&tab, "listings");

        // Keywords typed on the trends page become trends.
        tab.navigate_to(&format!("{base}/trends")).unwrap().wait_until_navigated().unwrap();
        type_into(&tab, "#keywords", "retro camping\npickleball grandma");
        tab.wait_for_element("form[data-import] button[type=submit]").unwrap().click().unwrap();
        wait_for(
            &tab,
            "(document.querySelector('#import-result .outcome.ok') || {}).textContent?.startsWith('Imported 2 trends')",
            "the import",
        );

        // The overview's live feed shows a trend as it is recorded.
        tab.navigate_to(&format!("{base}/")).unwrap().wait_until_navigated().unwrap();
        wait_for(&tab, "document.querySelector('[data-feed-status]').textContent === 'live'", "the live feed");
        runtime.block_on(api.observe_trend("axolotl teacher"));
        wait_for(
            &tab,
            "[...document.querySelectorAll('.feed li')].some(li => li.textContent.includes('axolotl teacher'))",
            "the trend in the live feed",
        );
        screenshot(&tab, "overview");

        // Approve the idea that waits for review.
        tab.navigate_to(&format!("{base}/ideas")).unwrap().wait_until_navigated().unwrap();
        let button = format!("#decision-{idea} button.primary");
        tab.wait_for_element(&button).unwrap().click().unwrap();
        wait_for(
            &tab,
            &format!(
                "(document.querySelector('#decision-{idea} .outcome.ok') || {{}}).textContent?.startsWith('Approved')"
            ),
            "the approval",
        );
        screenshot(&tab, "ideas");

        // Fix an invalid tag in the listing editor and see the error clear.
        tab.navigate_to(&format!("{base}/listings/{listing}")).unwrap().wait_until_navigated().unwrap();
        let second_tag = "#editor input[name=tags]:nth-of-type(2)";
        tab.wait_for_element(second_tag).unwrap();
        type_into(&tab, second_tag, "a tag far longer than twenty");
        wait_for(&tab, "!!document.querySelector('[data-error-for=\"tags[1]\"]')", "the tag's error");
        wait_for(
            &tab,
            &format!("document.querySelector('{second_tag}').getAttribute('aria-invalid') === 'true'"),
            "the tag marked invalid",
        );
        screenshot(&tab, "listing-editor-error");
        type_into(&tab, second_tag, "cat lover");
        wait_for(
            &tab,
            "!document.querySelector('[data-error-for]') && !!document.querySelector('#checks .notice.ok')",
            "the error to clear",
        );
        wait_for(
            &tab,
            &format!("document.querySelector('{second_tag}').getAttribute('aria-invalid') === 'false'"),
            "the mark to clear",
        );
        tab.wait_for_element("#editor button[type=submit]").unwrap().click().unwrap();
        wait_for(
            &tab,
            "(document.querySelector('#checks .notice.ok') || {}).textContent?.includes('Saved as revision 1')",
            "the save",
        );
        screenshot(&tab, "listing-editor");

        // The CSV, through the page's own link and session.
        tab.navigate_to(&format!("{base}/listings")).unwrap().wait_until_navigated().unwrap();
        let href = eval_string(&tab, "document.querySelector('a[download]').getAttribute('href')");
        assert_eq!(href, "/api/v1/listings.csv");
        let head = eval_string(
            &tab,
            "fetch('/api/v1/listings.csv').then(r => r.status + ' ' + r.headers.get('content-type'))",
        );
        assert_eq!(head, "200 text/csv; charset=utf-8");
        let body = eval_string(&tab, "fetch('/api/v1/listings.csv').then(r => r.text())");
        assert!(body.starts_with("listing_id,status,title"), "{body}");
        assert!(body.contains(&listing.to_string()) && body.contains("Proud Cat Mom Shirt"), "{body}");

        // Approve the listing in its editor, then send it for a dry run.
        tab.navigate_to(&format!("{base}/listings/{listing}")).unwrap().wait_until_navigated().unwrap();
        tab.wait_for_element("#listing-decision button").unwrap().click().unwrap();
        wait_for(
            &tab,
            "(document.querySelector('#listing-decision .outcome') || {}).textContent?.includes('Approved')",
            "the approval",
        );
        runtime.block_on(api.project());
        tab.reload(false, None).unwrap().wait_until_navigated().unwrap();
        let button = eval_string(&tab, "document.querySelector('#listing-decision button').textContent");
        assert_eq!(button.trim(), "Submit as a dry run");
        tab.wait_for_element("#listing-decision button").unwrap().click().unwrap();
        wait_for(
            &tab,
            "(document.querySelector('#listing-decision .outcome') || {}).textContent?.includes('Queued for a dry run')",
            "the submission",
        );
        // A sale of it, as a marketplace would report it, for the charts.
        runtime.block_on(api.sell(listing, 3, 2499));
        runtime.block_on(api.project());
        tab.navigate_to(&format!("{base}/publishing")).unwrap().wait_until_navigated().unwrap();
        let row = eval_string(&tab, "document.querySelector('main table tbody tr').textContent");
        assert!(row.contains("Proud Cat Mom Shirt") && row.contains("Dry run") && row.contains("queued"), "{row}");
        screenshot(&tab, "publishing");
        tab.navigate_to(&format!("{base}/analytics")).unwrap().wait_until_navigated().unwrap();
        wait_for(&tab, "!!document.querySelector('.chart canvas')", "the sales chart");
        let revenue = eval_string(&tab, "document.querySelector('.stat .n').textContent");
        assert_eq!(revenue, "$74.97");
        screenshot(&tab, "analytics");

        // The other pages render for a signed-in person.
        for (path, name) in [
            ("/trends", "trends"),
            ("/designs", "designs"),
            ("/operations", "operations"),
            ("/integrations", "integrations"),
            ("/team", "team"),
        ] {
            tab.navigate_to(&format!("{base}{path}")).unwrap().wait_until_navigated().unwrap();
            wait_for(&tab, "!!document.querySelector('main h1')", path);
            screenshot(&tab, name);
        }
        tab.navigate_to(&format!("{base}/api/v1/docs")).unwrap().wait_until_navigated().unwrap();
        wait_for(&tab, "document.querySelectorAll('.swagger-ui .opblock').length >= 35", "the API reference");
        screenshot(&tab, "api-reference");
        tab.navigate_to(&format!("{base}/trends/{}", api.seeded.acme_trends[0]))
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        wait_for(&tab, "!!document.querySelector('.chart canvas')", "the interest chart");
        screenshot(&tab, "trend");
    })
    .await
    .unwrap();

    // What the browser did is in the log: the idea approved by a person.
    api.project().await;
    let (_, _, idea_now) = api.call("GET", &format!("/api/v1/ideas/{idea}"), Some(&api.acme_viewer), &[]).await;
    assert_eq!(idea_now["status"], "approved");
    // The page sent an Idempotency-Key with each command: their ids derive
    // from a key (v5), where a command without one gets a fresh v7 id.
    let log = api.log().await;
    for event_type in ["IdeaApproved", "ListingRevised", "ListingApproved", "ListingSubmitted"] {
        let e = log.iter().rfind(|e| e.event_type == event_type).unwrap_or_else(|| panic!("no {event_type}"));
        let id = uuid::Uuid::parse_str(&e.command_id).unwrap();
        assert_eq!(id.get_version_num(), 5, "{event_type} was sent without an Idempotency-Key");
    }
    let (_, _, listing_now) =
        api.call("GET", &format!("/api/v1/listings/{listing}"), Some(&api.acme_viewer), &[]).await;
    assert_eq!(listing_now["tags"][1], "cat lover");
    server.abort();
}
