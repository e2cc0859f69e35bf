//! A customer's backend receiving callbacks: a plain HTTP/1.1 server on loopback
//! that records every request and answers as each test scripts it (succeed, fail
//! the first n attempts, always fail).

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::root;

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: String,
    pub json: Value,
    /// The status this receiver answered.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    /// This request as the Standard Webhooks reference library verifies it:
    /// `{"body", "headers"}` with the three `webhook-*` headers.
    pub fn standard_webhook(&self) -> Value {
        json!({
            "body": self.body,
            "headers": {
                "webhook-id": self.header("webhook-id"),
                "webhook-timestamp": self.header("webhook-timestamp"),
                "webhook-signature": self.header("webhook-signature"),
            },
        })
    }
}

/// What the `standardwebhooks` npm package (the specification's reference
/// implementation) says of each `{"body", "headers"}` item signed with `secret`: "ok",
/// or why not. The items reach node through `target/e2e/{file_name}`.
pub fn standard_webhooks_verdicts(items: &[Value], secret: &str, file_name: &str) -> Vec<String> {
    let file = root().join("target/e2e").join(file_name);
    std::fs::write(&file, serde_json::to_string(items).unwrap()).unwrap();
    let script = r#"
        const { Webhook } = require(process.argv[1] + "/node_modules/standardwebhooks");
        const items = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
        const hook = new Webhook(process.argv[3]);
        console.log(JSON.stringify(items.map((i) => {
            try { hook.verify(i.body, i.headers); return "ok"; } catch (e) { return String(e.message || e); }
        })));
    "#;
    let output = Command::new("node")
        .args(["-e", script, &root().display().to_string(), &file.display().to_string(), secret])
        .output()
        .expect("node runs");
    assert!(output.status.success(), "node: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("verdicts")
}

/// How to answer callbacks whose event matches a key (a request id or an event type).
#[derive(Debug, Clone, Copy)]
pub enum Script {
    FailTimes(usize),
    AlwaysFail,
}

#[derive(Default)]
pub struct Receiver {
    pub url: String,
    received: Mutex<Vec<Received>>,
    scripts: Mutex<HashMap<String, Script>>,
}

impl Receiver {
    pub async fn start() -> Arc<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("receiver port");
        let url = format!("http://{}/callbacks", listener.local_addr().expect("address"));
        let receiver = Arc::new(Receiver { url, ..Default::default() });
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let receiver = serving.clone();
                tokio::spawn(async move { receiver.serve(stream).await });
            }
        });
        receiver
    }

    /// Answers events whose `request_id` or `type` is `key` per `script`.
    pub fn script(&self, key: &str, script: Script) {
        self.scripts.lock().unwrap().insert(key.to_string(), script);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn answer(&self, json: &Value) -> u16 {
        let keys = [json["request_id"].as_str().unwrap_or(""), json["type"].as_str().unwrap_or("")];
        let id = json["id"].as_str().unwrap_or("");
        let received = self.received.lock().unwrap();
        let earlier = received.iter().filter(|r| r.json["id"] == id).count();
        match keys.iter().find_map(|k| self.scripts.lock().unwrap().get(*k).copied()) {
            Some(Script::AlwaysFail) => 503,
            Some(Script::FailTimes(n)) if earlier < n => 500,
            _ => 204,
        }
    }

    async fn serve(&self, mut stream: tokio::net::TcpStream) {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
            if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
        let headers: HashMap<String, String> = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
        while buffer.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).to_string();
        let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let status = self.answer(&json);
        self.received.lock().unwrap().push(Received { headers, body, json, answered: status });
        let reply = format!("HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}
