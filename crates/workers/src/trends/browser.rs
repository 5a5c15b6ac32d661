//! Page scraping with headless_chrome driving Debian's Chromium (never a
//! downloaded browser). One browser per worker, started on first use and
//! restarted if it dies; items are read with one script per page.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use headless_chrome::{Browser, LaunchOptions};

use super::sources::{FetchError, PageScraper, Selectors, looks_blocked};

/// Where Debian puts Chromium.
pub const DEBIAN_CHROMIUM: &str = "/usr/bin/chromium";

const ARGS: [&str; 7] = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--disable-gpu",
];

pub struct ChromiumScraper {
    path: PathBuf,
    browser: Arc<Mutex<Option<Browser>>>,
    timeout: Duration,
}

impl ChromiumScraper {
    /// A scraper using the Chromium at `path` (checked now, started on first use).
    pub fn new(path: impl Into<PathBuf>) -> Result<Self, FetchError> {
        let path = path.into();
        if !path.is_file() {
            return Err(FetchError::Failed(format!(
                "Chromium not found at {} (install Debian's package: apt-get install chromium)",
                path.display()
            )));
        }
        Ok(Self { path, browser: Arc::default(), timeout: Duration::from_secs(30) })
    }

    fn launch(path: &std::path::Path) -> Result<Browser, FetchError> {
        let options = LaunchOptions::default_builder()
            .path(Some(path.to_path_buf()))
            .headless(true)
            .sandbox(false)
            .args(ARGS.iter().map(OsStr::new).collect())
            .idle_browser_timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| FetchError::Failed(format!("Chromium options: {e}")))?;
        Browser::new(options).map_err(|e| FetchError::Failed(format!("starting Chromium: {e}")))
    }
}

/// The script that reads items: `[[keyword, rank-or-null], …]` as JSON.
pub fn extraction_script(selectors: &Selectors) -> String {
    let q =
        |s: &Option<String>| s.as_ref().map(|s| serde_json::to_string(s).unwrap_or_default()).unwrap_or("null".into());
    format!(
        r#"(() => {{
  const item = {item}, kw = {kw}, rank = {rank};
  return JSON.stringify([...document.querySelectorAll(item)].map(el => {{
    const k = kw ? el.querySelector(kw) : el;
    const r = rank ? el.querySelector(rank) : null;
    return [k ? k.innerText.trim() : "", r ? r.innerText.trim() : null];
  }}));
}})()"#,
        item = serde_json::to_string(&selectors.item).unwrap_or_default(),
        kw = q(&selectors.keyword),
        rank = q(&selectors.rank),
    )
}

fn parse_rank(s: &str) -> Option<u32> {
    let digits: String = s.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|r| *r > 0)
}

fn scrape_blocking(
    browser: &Browser,
    url: &str,
    selectors: &Selectors,
    next: Option<&str>,
    pages: u32,
    timeout: Duration,
) -> Result<Vec<(String, Option<u32>)>, FetchError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| FetchError::Failed(format!("{what} {url}: {e}"));
    let tab = browser.new_tab().map_err(|e| fail("opening a tab for", &e))?;
    tab.set_default_timeout(timeout);
    tab.navigate_to(url).map_err(|e| fail("loading", &e))?;
    tab.wait_until_navigated().map_err(|e| fail("loading", &e))?;
    let script = extraction_script(selectors);
    let mut items = Vec::new();
    for page in 0..pages.max(1) {
        let html = tab.get_content().map_err(|e| fail("reading", &e))?;
        if looks_blocked(200, &html) {
            let _ = tab.close(true);
            return Err(FetchError::Blocked(format!("{url}: the page asks for a captcha")));
        }
        let value = tab.evaluate(&script, false).map_err(|e| fail("reading items of", &e))?.value;
        let json = value.as_ref().and_then(|v| v.as_str()).unwrap_or("[]");
        let found: Vec<(String, Option<String>)> =
            serde_json::from_str(json).map_err(|e| fail("decoding items of", &e))?;
        let base = items.len() as u32;
        for (i, (keyword, rank)) in found.into_iter().enumerate() {
            if !keyword.is_empty() {
                items.push((keyword, rank.as_deref().and_then(parse_rank).or(Some(base + i as u32 + 1))));
            }
        }
        let Some(next) = next else { break };
        if page + 1 == pages {
            break;
        }
        match tab.find_element(next) {
            Ok(link) => {
                link.click().map_err(|e| fail("following the next page of", &e))?;
                tab.wait_until_navigated().map_err(|e| fail("loading the next page of", &e))?;
            }
            Err(_) => break,
        }
    }
    let _ = tab.close(true);
    Ok(items)
}

#[async_trait::async_trait]
impl PageScraper for ChromiumScraper {
    async fn scrape(
        &self,
        url: &str,
        selectors: &Selectors,
        next: Option<&str>,
        pages: u32,
    ) -> Result<Vec<(String, Option<u32>)>, FetchError> {
        let (browser, path, timeout) = (self.browser.clone(), self.path.clone(), self.timeout);
        let (url, selectors, next) = (url.to_owned(), selectors.clone(), next.map(str::to_owned));
        tokio::task::spawn_blocking(move || {
            let mut slot = browser.lock().map_err(|_| FetchError::Failed("browser lock poisoned".into()))?;
            if slot.is_none() {
                *slot = Some(Self::launch(&path)?);
            }
            let b = slot.as_ref().ok_or_else(|| FetchError::Failed("no browser".into()))?;
            let result = scrape_blocking(b, &url, &selectors, next.as_deref(), pages, timeout);
            if let Err(FetchError::Failed(_)) = &result {
                // The browser may have died: start a fresh one next time.
                *slot = None;
            }
            result
        })
        .await
        .map_err(|e| FetchError::Failed(format!("scrape task: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_quoted_into_the_script() {
        let s = Selectors { item: "li[data-x=\"a\"]".into(), keyword: Some(".kw".into()), rank: None };
        let js = extraction_script(&s);
        assert!(js.contains(r#"const item = "li[data-x=\"a\"]", kw = ".kw", rank = null;"#), "{js}");
        assert_eq!(parse_rank("#12 in Clothing"), Some(12));
        assert_eq!(parse_rank("n/a"), None);
    }
}
