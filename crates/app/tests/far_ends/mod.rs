//! The far ends the outbox tests deliver to: a real SMTP server (aiosmtpd,
//! scripts/smtp_sink.py) writing a Maildir, and a fake SMS gateway (a small axum
//! server) that keeps every body it was sent.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The SMTP server's process, killed when dropped.
pub struct Sink(std::process::Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts aiosmtpd writing to `dir/mail`; answers its port.
pub async fn smtp_sink(dir: &std::path::Path) -> (Sink, u16) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let port_file = dir.join("port");
    let sink = Sink(
        std::process::Command::new("python3")
            .arg(format!("{root}/scripts/smtp_sink.py"))
            .arg("--maildir")
            .arg(dir.join("mail"))
            .arg("--port-file")
            .arg(&port_file)
            .arg("--venv")
            .arg(format!("{root}/target/smtp-venv"))
            .spawn()
            .expect("python3 runs scripts/smtp_sink.py"),
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&port_file) {
            break p.trim().parse::<u16>().unwrap();
        }
        assert!(Instant::now() < deadline, "the SMTP server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    (sink, port)
}

/// Every email in the mailbox, as its whole text.
pub fn mails(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("mail/new")) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    out.sort();
    out
}

/// A fake SMS gateway: answers 500 to the first `failures` requests, then 202, and
/// keeps every body it was sent.
pub async fn gateway(failures: usize) -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let kept = seen.clone();
    let route = axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
        let (seen, calls) = (kept.clone(), calls.clone());
        async move {
            seen.lock().unwrap().push(body);
            if calls.fetch_add(1, Ordering::SeqCst) < failures {
                axum::http::StatusCode::INTERNAL_SERVER_ERROR
            } else {
                axum::http::StatusCode::ACCEPTED
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().route("/sms", route))
            .await
            .unwrap()
    });
    (format!("http://{addr}/sms"), seen)
}
