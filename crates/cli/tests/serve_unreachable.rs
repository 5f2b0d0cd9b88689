//! `forecourt serve` on a PostgreSQL that does not answer: it says at once which
//! database it waits for (without the password), keeps trying and logging each try, and
//! with `FORECOURT_LOG_FORMAT=json` every line of its log is a JSON object.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn serve_names_the_unreachable_database_and_logs_json_lines() {
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = std::env::temp_dir().join(format!("fc-unreachable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_forecourt"))
        .args([
            "serve",
            "--db",
            &format!("postgres://fc:s3cret-pw@127.0.0.1:{port}/forecourt"),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("FORECOURT_LOG_FORMAT", "json")
        .env_remove("FORECOURT_LOG")
        .env("FORECOURT_DATA_KEY_FILE", dir.join("keys"))
        .env("FORECOURT_SECRET_FILE", dir.join("secret"))
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    // Two failed tries take two pool time-outs and a one-second wait; the bound only
    // ends a run that never says anything.
    let mut lines = Vec::new();
    let mut tries = 0;
    while tries < 2 {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                let v: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
                if v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("unreachable"))
                {
                    tries += 1;
                    assert_eq!(
                        v["fields"]["database"],
                        format!("127.0.0.1:{port}/forecourt"),
                        "{line}"
                    );
                    assert_eq!(v["fields"]["attempt"], tries, "{line}");
                }
                lines.push(line);
            }
            Err(_) => {
                let _ = child.kill();
                panic!("serve said nothing of the database; its log so far: {lines:#?}");
            }
        }
    }
    assert_eq!(
        child.try_wait().unwrap(),
        None,
        "serve gave up instead of waiting for the database"
    );
    child.kill().unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let all = lines.join("\n");
    assert!(!all.contains("s3cret-pw"), "the password in the log: {all}");
    assert!(
        !all.contains('\x1b'),
        "colour codes in a log that is no terminal"
    );
}
