//! Headless Chromium driven through chromedriver (WebDriver), for the dashboard's end-to-end
//! suite. Each [`Browser`] has its own driver process and empty profile; a failed journey saves
//! a screenshot under `target/e2e-screenshots/`.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use serde_json::json;

/// How long a step waits for the page before the test fails.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Browser {
    pub client: Client,
    pub base: String,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A fresh headless Chromium at 1280 × 900 (the smallest laptop the dashboard supports),
    /// with `base` (`http://127.0.0.1:PORT`) as the site under test.
    pub async fn start(base: &str) -> Self {
        let port = crate::free_port();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver is installed (scripts/test installs chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while !reqwest::get(format!("{url}/status"))
            .await
            .is_ok_and(|response| response.status().is_success())
        {
            assert!(
                started.elapsed() < STEP_TIMEOUT,
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        // Several TLS providers are linked into the suite; the driver's client needs one chosen.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("chromedriver starts a Chromium session");
        Self {
            client,
            base: base.to_owned(),
            _driver: driver,
            _profile: profile,
        }
    }

    /// Opens `path` of the site.
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// The first element matching `css`, once it exists.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(STEP_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no element matches {css}: {err}"))
    }

    /// Waits until the text of the element matching `css` contains `text`, ignoring case (the
    /// text is as rendered, and CSS may set the case); returns that text.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> String {
        let started = Instant::now();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(found) = element.text().await
                && found.to_lowercase().contains(&text.to_lowercase())
            {
                return found;
            }
            assert!(
                started.elapsed() < STEP_TIMEOUT,
                "{css} never contained {text:?}; the page: {}",
                self.visible_text().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the element matching `css` exists and its text no longer contains `text`
    /// (ignoring case); returns its text.
    pub async fn wait_for_text_without(&self, css: &str, text: &str) -> String {
        let started = Instant::now();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(found) = element.text().await
                && !found.to_lowercase().contains(&text.to_lowercase())
            {
                return found;
            }
            assert!(
                started.elapsed() < STEP_TIMEOUT,
                "{css} still contains {text:?}; the page: {}",
                self.visible_text().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until no element matches `css`.
    pub async fn wait_until_gone(&self, css: &str) {
        let started = Instant::now();
        while !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
        {
            assert!(started.elapsed() < STEP_TIMEOUT, "{css} is still there");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether any element matches `css` right now.
    pub async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
    }

    /// Types `text` into the field matching `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Chooses `value` in the `<select>` matching `css`.
    pub async fn choose(&self, css: &str, value: &str) {
        self.find(css).await.select_by_value(value).await.unwrap();
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// The text of the whole page, for failure messages.
    pub async fn visible_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(err) => format!("(no page: {err})"),
        }
    }

    /// Runs a journey through the dashboard; when it fails, saves a screenshot named after it
    /// before the test fails. Either way the browser quits (chromedriver would leave it running).
    pub async fn journey(&self, name: &str, steps: impl Future<Output = ()>) {
        let outcome = AssertUnwindSafe(steps).catch_unwind().await;
        if outcome.is_err() {
            let path = self.save_screenshot(name).await;
            eprintln!("screenshot of the failed journey: {}", path.display());
        }
        let _ = self.client.clone().close().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    /// Saves the page, 1280 px wide and up to 1,600 px of it, as
    /// `target/e2e-screenshots/NAME.png` (the README's pictures come from these).
    pub async fn save_page_screenshot(&self, name: &str) -> PathBuf {
        self.client.set_window_size(1280, 1600).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let path = self.save_screenshot(name).await;
        self.client.set_window_size(1280, 900).await.unwrap();
        path
    }

    /// Saves the current page as `target/e2e-screenshots/NAME.png`.
    pub async fn save_screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/e2e-screenshots"
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        if let Ok(png) = self.client.screenshot().await {
            std::fs::write(&path, png).unwrap();
        }
        path
    }
}
