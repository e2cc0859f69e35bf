//! A customer's backend receiving callbacks: a plain HTTP/1.1 server on loopback
//! that records every request and answers as each test scripts it (succeed, fail
//! the first n attempts, always fail).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

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
