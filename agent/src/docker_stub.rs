//! kubelet's cAdvisor (Kubernetes 1.20 to 1.23 at least) asks Docker for
//! its root directory when kubelet starts and, with no Docker there, asks
//! again five times a second apart: every kubelet start waits 5 s. A node
//! has no Docker; this answers on its socket at once. `/_ping` and `/info`
//! say there is a root directory and no version, so cAdvisor goes on and
//! registers no Docker container factory (it needs a version); anything
//! else is 404.

use std::path::Path;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

/// Where kubelet's cAdvisor looks for Docker.
pub const SOCKET: &str = "/var/run/docker.sock";

/// The whole answer to a request whose head is `head`.
pub fn answer(head: &str) -> String {
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or_default();
    let path = words.next().unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    let (status, body) = if path.ends_with("/_ping") {
        ("200 OK", "OK")
    } else if path.ends_with("/info") {
        (
            "200 OK",
            r#"{"DockerRootDir":"/var/lib/docker","Driver":"","ServerVersion":""}"#,
        )
    } else {
        ("404 Not Found", r#"{"message":"no Docker on this node"}"#)
    };
    let kind = if body.starts_with('{') {
        "application/json"
    } else {
        "text/plain"
    };
    let body = if method == "HEAD" { "" } else { body };
    format!(
        "HTTP/1.1 {status}\r\nApi-Version: 1.40\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        if method == "HEAD" { 0 } else { body.len() }
    )
}

/// Serves [`answer`] on `socket` until the agent stops.
pub async fn serve(socket: &Path) -> Result<()> {
    // A socket left by an earlier run of the agent.
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    loop {
        let (mut conn, _) = listener.accept().await?;
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(1024);
            let mut chunk = [0u8; 1024];
            // The request head; a request has no body here.
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                match conn.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf);
            let _ = conn.write_all(answer(&head).as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(a: &str) -> &str {
        a.split("\r\n\r\n").nth(1).unwrap()
    }

    #[test]
    fn ping_and_info_answer_at_once_and_the_rest_is_not_found() {
        let ping = answer("GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n");
        assert!(
            ping.starts_with("HTTP/1.1 200 OK\r\n") && body(&ping) == "OK",
            "{ping}"
        );
        let head = answer("HEAD /_ping HTTP/1.1\r\n\r\n");
        assert!(
            head.contains("Content-Length: 0") && body(&head).is_empty(),
            "{head}"
        );
        let info = answer("GET /v1.40/info HTTP/1.1\r\n\r\n");
        let v: serde_json::Value = serde_json::from_str(body(&info)).unwrap();
        assert_eq!(v["DockerRootDir"], "/var/lib/docker");
        // No version: cAdvisor registers no Docker factory.
        assert_eq!(v["ServerVersion"], "");
        let version = answer("GET /v1.40/version HTTP/1.1\r\n\r\n");
        assert!(version.starts_with("HTTP/1.1 404"), "{version}");
        let len: usize = info
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, body(&info).len());
    }

    #[tokio::test]
    async fn serves_on_a_unix_socket() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("docker.sock");
        let s = sock.clone();
        tokio::spawn(async move { serve(&s).await });
        let mut conn = loop {
            match tokio::net::UnixStream::connect(&sock).await {
                Ok(c) => break c,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        };
        conn.write_all(b"GET /v1.40/info HTTP/1.1\r\nHost: docker\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        conn.read_to_string(&mut out).await.unwrap();
        assert!(
            out.contains("\"DockerRootDir\":\"/var/lib/docker\""),
            "{out}"
        );
    }
}
