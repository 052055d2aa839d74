//! A minimal WebDriver client for Debian's headless Chromium
//! (`chromium` + `chromium-driver`): the admin page's tests drive it as an
//! admin would, in a 1280 px wide window where every page they open must
//! fit without scrolling sideways, and in the `Europe/Berlin` zone, so that
//! the page shows local times beside UTC ones. Missing browser or driver:
//! the test fails, never skips.

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use base64::Engine;
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// The narrowest window every page must fit (a laptop's).
const NARROW: u64 = 1280;
/// The wide window screenshots are also taken in.
const WIDE: u64 = 1920;

/// A headless Chromium session through chromedriver; both end on drop.
pub struct Browser {
    driver: Child,
    endpoint: String,
    client: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a new profile.
    ///
    /// # Panics
    ///
    /// When Chromium or chromedriver is missing or does not start.
    pub fn start() -> Self {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: the admin page's browser tests need Debian's `chromium` and `chromium-driver` packages (scripts/test-services.sh installs them)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .env("TZ", "Europe/Berlin")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(900))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while client.get(format!("{base}/status")).send().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not answer on {base}"
            );
            sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "timeouts": {"pageLoad": 900_000, "script": 30_000, "implicit": 0},
        }}});
        let answer: Value = client
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .expect("chromedriver answers")
            .json()
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("Chromium did not start: {answer}"))
            .to_owned();
        Self {
            driver,
            endpoint: format!("{base}/session/{session}"),
            client,
            _profile: profile,
        }
    }

    fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.endpoint));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .and_then(|r| r.json())
            .map_err(|e| format!("WebDriver {method} {path}: {e}"))?;
        let value = answer["value"].clone();
        match value.get("error") {
            Some(error) => Err(format!(
                "WebDriver {method} {path}: {error}: {}",
                value["message"]
            )),
            None => Ok(value),
        }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_find(&self, css: &str) -> Option<String> {
        let answer: Value = self
            .client
            .post(format!("{}/element", self.endpoint))
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .ok()?
            .json()
            .ok()?;
        answer["value"][ELEMENT].as_str().map(str::to_owned)
    }

    fn find(&self, css: &str) -> String {
        self.try_find(css)
            .unwrap_or_else(|| panic!("no `{css}` on {}:\n{}", self.url(), self.text("body")))
    }

    /// Opens a URL.
    pub fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })));
        self.assert_fits();
    }

    /// Asserts that the page is no wider than the window (1280 px: the
    /// test's window between screenshots): nothing to scroll sideways.
    ///
    /// # Panics
    ///
    /// When the page is wider, naming its widest elements.
    pub fn assert_fits(&self) {
        let widths = self.execute(
            "return [document.documentElement.scrollWidth, window.innerWidth, \
             Array.from(document.querySelectorAll('main *')) \
               .filter(e => e.getBoundingClientRect().right > window.innerWidth) \
               .slice(0, 5).map(e => e.tagName + '.' + e.className).join(' ')]",
        );
        let scroll = widths[0].as_u64().unwrap_or(u64::MAX);
        let inner = widths[1].as_u64().unwrap_or(0);
        assert!(
            scroll <= inner,
            "{} is {scroll} px wide in a {inner} px window: it scrolls sideways (past the edge: {})",
            self.url(),
            widths[2]
        );
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Types into the first element matching `css`, replacing its content.
    pub fn fill(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/clear"),
            Some(json!({})),
        );
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Clicks the first element matching `css` and waits for the page it loads.
    pub fn click(&self, css: &str) {
        self.execute("window.gnbrLeaving = true");
        self.tick(css);
        let started = Instant::now();
        let script = json!({
            "script": "return !window.gnbrLeaving && document.readyState === 'complete'",
            "args": [],
        });
        // While the next page loads, a script may fail: try again.
        while self.try_call(reqwest::Method::POST, "/execute/sync", Some(script.clone()))
            != Ok(Value::Bool(true))
        {
            assert!(
                started.elapsed() < Duration::from_secs(900),
                "clicking `{css}` loaded no page"
            );
            sleep(Duration::from_millis(100));
        }
        self.assert_fits();
    }

    /// Clicks the first element matching `css` (a checkbox: no page loads).
    pub fn tick(&self, css: &str) {
        let element = self.find(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
    }

    /// The visible text of the first element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let Some(element) = self.try_find(css) else {
            return String::new();
        };
        self.call(
            reqwest::Method::GET,
            &format!("/element/{element}/text"),
            None,
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Runs a script in the page; returns its result.
    pub fn execute(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// Waits until the text of `css` is one of `texts`; returns it.
    ///
    /// # Panics
    ///
    /// After `timeout`, with the page's text.
    pub fn wait_for_text(&self, css: &str, texts: &[&str], timeout: Duration) -> String {
        self.wait_for(
            css,
            &format!("one of {texts:?}"),
            |text| texts.contains(&text),
            timeout,
        )
    }

    /// Waits until the text of `css` is `wanted` (said as `what`); returns it.
    ///
    /// # Panics
    ///
    /// After `timeout`, with the page's text.
    pub fn wait_for(
        &self,
        css: &str,
        what: &str,
        wanted: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> String {
        let started = Instant::now();
        loop {
            // The page reloads itself while a run goes on: a lookup may miss.
            let text = self.try_text(css);
            if wanted(&text) {
                return text;
            }
            assert!(
                started.elapsed() < timeout,
                "`{css}` is `{text}` after {timeout:?}, not {what}; the page:\n{}",
                self.text("body")
            );
            sleep(Duration::from_millis(500));
        }
    }

    fn try_text(&self, css: &str) -> String {
        let Some(element) = self.try_find(css) else {
            return String::new();
        };
        let answer: Option<Value> = self
            .client
            .get(format!("{}/element/{element}/text", self.endpoint))
            .send()
            .ok()
            .and_then(|r| r.json().ok());
        answer
            .and_then(|a| a["value"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// PNGs of the whole page, 1280 and 1920 px wide, into
    /// `dir/<name>-1280.png` and `dir/<name>-1920.png` (the window grows to
    /// fit the page, then is 1280 px wide again); the page fits at 1280 px.
    pub fn screenshot(&self, dir: &Path, name: &str) {
        self.assert_fits();
        std::fs::create_dir_all(dir).unwrap();
        for width in [NARROW, WIDE] {
            self.resize(width, 1000);
            let height = self
                .execute("return document.documentElement.scrollHeight")
                .as_u64()
                .unwrap_or(1000)
                .clamp(700, 4000);
            self.resize(width, height + 90);
            let png = self.call(reqwest::Method::GET, "/screenshot", None);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(png.as_str().unwrap())
                .unwrap();
            std::fs::write(dir.join(format!("{name}-{width}.png")), bytes).unwrap();
        }
        self.resize(NARROW, 1000);
    }

    fn resize(&self, width: u64, height: u64) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.client.delete(&self.endpoint).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
