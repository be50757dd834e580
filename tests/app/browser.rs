//! A real browser for the page tests: Debian's headless Chromium driven through
//! chromedriver (WebDriver, with fantoccini), each test with its own driver, browser and
//! fresh profile. Screenshots are kept under `target/browser-screenshots/`; the browser's
//! console (errors, failed loads, CSP refusals) is read through chromedriver's log endpoint.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::support::{TestResult, eventually};

/// The flags a root user needs on a machine without network (and no GPU, no desktop).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
];

/// A headless Chromium under chromedriver; both end when it is dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    driver_log: PathBuf,
    _profile: tempfile::TempDir,
}

fn find_program(name: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .chain([PathBuf::from(fallback)])
        .find(|p| p.is_file())
}

fn free_port() -> TestResult<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Browser {
    /// Starts chromedriver and a browser of `width` x `height` CSS pixels.
    pub async fn start(width: u32, height: u32) -> TestResult<Browser> {
        let chromium = find_program("chromium", "/usr/bin/chromium")
            .ok_or("chromium is not installed: run scripts/install-deps.sh")?;
        let chromedriver = find_program("chromedriver", "/usr/bin/chromedriver")
            .ok_or("chromedriver is not installed (Debian package chromium-driver): run scripts/install-deps.sh")?;
        let profile = tempfile::tempdir()?;
        let driver_log = profile.path().join("chromedriver.log");
        let port = free_port()?;
        let mut driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&driver_log)?)
            .spawn()?;
        let webdriver = format!("http://127.0.0.1:{port}");
        let probe = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let ready = eventually("chromedriver to listen", Duration::from_secs(20), || {
            let request = probe.get(format!("{webdriver}/status"));
            async move {
                request
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
            }
        })
        .await;
        if let Err(e) = ready {
            let _ = driver.kill();
            let _ = driver.wait();
            return Err(e);
        }

        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ));
        args.push(format!("--window-size={width},{height}"));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal");
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = match ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
        {
            Ok(client) => client,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                let log = std::fs::read_to_string(&driver_log).unwrap_or_default();
                return Err(format!("no browser session: {e}\nchromedriver: {log}").into());
            }
        };
        Ok(Browser {
            client,
            driver,
            driver_log,
            _profile: profile,
        })
    }

    /// Opens `url` and waits for the document to have loaded.
    pub async fn open(&self, url: &str) -> TestResult {
        self.client.goto(url).await?;
        self.wait_for(
            "the document to load",
            "return document.readyState === 'complete'",
        )
        .await?;
        Ok(())
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub async fn eval(&self, script: &str) -> TestResult<Value> {
        Ok(self.client.execute(script, vec![]).await?)
    }

    /// Polls `script` until it returns something truthy (within 20 s); that value.
    pub async fn wait_for(&self, what: &str, script: &str) -> TestResult<Value> {
        let started = Instant::now();
        loop {
            let value = self.eval(script).await?;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return Ok(value);
            }
            if started.elapsed() > Duration::from_secs(20) {
                return Err(format!("{what}: not within 20 s (last: {value})").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` into the element `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) -> TestResult {
        let field = self.client.find(Locator::Css(css)).await?;
        field.clear().await?;
        field.send_keys(text).await?;
        Ok(())
    }

    /// Clicks the element `css` selects.
    pub async fn click(&self, css: &str) -> TestResult {
        self.client.find(Locator::Css(css)).await?.click().await?;
        Ok(())
    }

    /// Empties the browser's HTTP cache (Chrome DevTools' `Network.clearBrowserCache`).
    pub async fn clear_cache(&self) -> TestResult {
        self.client
            .issue_cmd(DevTools {
                command: "Network.clearBrowserCache",
                params: json!({}),
            })
            .await?;
        Ok(())
    }

    /// The console entries since the last call: `(level, message)`.
    pub async fn console(&self) -> TestResult<Vec<(String, String)>> {
        let entries = self.client.issue_cmd(BrowserLog).await?;
        Ok(entries
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or("").to_owned(),
                            e["message"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The console's errors since the last call (failed loads, exceptions, CSP refusals,
    /// `console.error`).
    pub async fn console_errors(&self) -> TestResult<Vec<String>> {
        Ok(self
            .console()
            .await?
            .into_iter()
            .filter(|(level, _)| level == "SEVERE")
            .map(|(_, message)| message)
            .collect())
    }

    /// Saves a screenshot of the viewport as `target/browser-screenshots/{name}.png`; its path.
    pub async fn screenshot(&self, name: &str) -> TestResult<PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Resizes the window so the whole page fits (up to `max_height`), for a full screenshot.
    pub async fn fit_page(&self, width: u32, max_height: u32) -> TestResult {
        let height = self
            .eval("return document.documentElement.scrollHeight")
            .await?
            .as_u64()
            .unwrap_or(900) as u32;
        // The window's frame is not part of the page in headless mode.
        self.client
            .set_window_size(width, height.clamp(600, max_height))
            .await?;
        Ok(())
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) -> TestResult {
        let closed = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        closed.map_err(|e| {
            let log = std::fs::read_to_string(&self.driver_log).unwrap_or_default();
            format!("closing the browser: {e}\n{log}").into()
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Killing chromedriver leaves its Chromium to notice the closed pipe and exit.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `target/browser-screenshots` of this workspace (or of `CARGO_TARGET_DIR`).
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("browser-screenshots")
}

/// chromedriver's log endpoint (not part of W3C WebDriver; chromedriver keeps it):
/// `POST /session/{id}/se/log {"type": "browser"}` drains the console's entries.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or("")))
    }

    fn method_and_body(&self, _url: &url::Url) -> (reqwest::Method, Option<String>) {
        (
            reqwest::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// chromedriver's passage to the DevTools protocol: `POST /session/{id}/goog/cdp/execute`.
#[derive(Debug)]
struct DevTools {
    command: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or("")
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (reqwest::Method, Option<String>) {
        (
            reqwest::Method::POST,
            Some(json!({ "cmd": self.command, "params": self.params }).to_string()),
        )
    }
}
