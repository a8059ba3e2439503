//! A small W3C WebDriver client (the JSON-over-HTTP protocol chromedriver speaks) for the
//! console's browser tests: Debian's `chromium` headless through `chromium-driver`.
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    base: String,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn driver_path() -> String {
    for p in ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"] {
        if std::path::Path::new(p).exists() {
            return p.to_string();
        }
    }
    panic!("chromedriver is missing: scripts/setup.sh installs chromium and chromium-driver");
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session.
    pub async fn start(dir: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join("chromedriver.log")).unwrap();
        let driver = Command::new(driver_path())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut b = Browser {
            http: reqwest::Client::new(),
            base: format!("http://127.0.0.1:{port}"),
            driver,
        };
        let status = format!("{}/status", b.base);
        crate::common::wait_until("chromedriver", Duration::from_secs(20), || {
            let r = b.http.get(&status).send();
            async move { r.await.is_ok() }
        })
        .await;
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
                "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1100,900", "--autoplay-policy=no-user-gesture-required",
                format!("--user-data-dir={}", dir.join("chrome-profile").display())]}}}});
        let v = b.raw("POST", "/session", Some(caps)).await;
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        b.base = format!("{}/session/{id}", b.base);
        b
    }

    async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or(json!({}))),
        };
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        v.get("value").cloned().map_or(v.clone(), |inner| {
            if v.get("sessionId").is_some() {
                json!({"sessionId": v["sessionId"]})
            } else {
                inner
            }
        })
    }

    pub async fn go(&self, url: &str) {
        self.raw("POST", "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.raw("GET", "/url", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Waits (up to 10 s) until the page's URL ends with `suffix` (a form's navigation).
    pub async fn wait_url(&self, suffix: &str) {
        for _ in 0..100 {
            if self.url().await.ends_with(suffix) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page is {}, not …{suffix}", self.url().await);
    }

    /// Waits (up to 10 s) until the page shows `needle`.
    pub async fn wait_text(&self, needle: &str) {
        for _ in 0..100 {
            if self.source().await.contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "'{needle}' never showed on {}:\n{}",
            self.url().await,
            self.source().await
        );
    }

    pub async fn source(&self) -> String {
        self.raw("GET", "/source", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The element at a CSS selector, or `None`.
    pub async fn find(&self, css: &str) -> Option<String> {
        let v = self
            .raw(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.get(ELEMENT).and_then(Value::as_str).map(String::from)
    }

    pub async fn count(&self, css: &str) -> usize {
        let v = self
            .raw(
                "POST",
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_array().map_or(0, Vec::len)
    }

    /// The element at `css`, or a panic showing the page.
    async fn need(&self, css: &str) -> String {
        match self.find(css).await {
            Some(e) => e,
            None => {
                let v = self
                    .raw(
                        "POST",
                        "/element",
                        Some(json!({"using": "css selector", "value": css})),
                    )
                    .await;
                panic!(
                    "no {css} on {} ({v}):\n{}",
                    self.url().await,
                    self.source().await
                )
            }
        }
    }

    /// Resizes the window (the page's viewport follows).
    pub async fn resize(&self, width: u32, height: u32) {
        self.raw(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Drags the element under `css` by (`dx`, `dy`) CSS pixels with a mouse pointer, as a
    /// finger would: pointer down on its centre, moved in steps, released.
    pub async fn drag(&self, css: &str, dx: i64, dy: i64) {
        let e = self.need(css).await;
        let origin = json!({ ELEMENT: e });
        let actions = json!({"actions": [{"type": "pointer", "id": "finger",
        "parameters": {"pointerType": "mouse"},
        "actions": [
            {"type": "pointerMove", "origin": origin, "x": 0, "y": 0, "duration": 0},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerMove", "origin": "pointer", "x": dx / 2, "y": dy / 2, "duration": 150},
            {"type": "pointerMove", "origin": "pointer", "x": dx - dx / 2, "y": dy - dy / 2, "duration": 150},
            {"type": "pointerUp", "button": 0}
        ]}]});
        self.raw("POST", "/actions", Some(actions)).await;
    }

    pub async fn click(&self, css: &str) {
        let e = self.need(css).await;
        self.raw("POST", &format!("/element/{e}/click"), None).await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.need(css).await;
        self.raw("POST", &format!("/element/{e}/clear"), None).await;
        self.raw(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let Some(e) = self.find(css).await else {
            return String::new();
        };
        self.raw("GET", &format!("/element/{e}/text"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub async fn script(&self, js: &str) -> Value {
        self.raw(
            "POST",
            "/execute/sync",
            Some(json!({"script": js, "args": []})),
        )
        .await
    }

    /// Saves a PNG of the page and returns how many distinct colours it has (a blank page
    /// has one or two).
    pub async fn screenshot(&self, path: &std::path::Path) -> usize {
        use base64::Engine;
        let v = self.raw("GET", "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .unwrap();
        std::fs::write(path, &png).unwrap();
        let img = media::load_image(path).unwrap();
        let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
        colours.sort_unstable();
        colours.dedup();
        colours.len()
    }
}
