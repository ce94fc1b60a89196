//! Transient API failures, and retrying them: a dropped connection or a
//! busy server should not end a wait of minutes.

use std::future::Future;
use std::time::Duration;

/// How many times a single request is tried.
const ATTEMPTS: u32 = 4;

/// The first pause between attempts; it doubles each time.
const FIRST_PAUSE: Duration = Duration::from_millis(500);

/// True when trying the same request again may succeed: the connection
/// failed, or the server said it is busy or broken (429, 5xx).
pub fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Runs `request` until it succeeds, fails for good, or has been tried
/// [`ATTEMPTS`] times, pausing longer each time.
pub async fn retry<T, F, Fut>(mut request: F) -> kube::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = kube::Result<T>>,
{
    let mut pause = FIRST_PAUSE;
    let mut tried = 1;
    loop {
        match request().await {
            Err(e) if tried < ATTEMPTS && transient(&e) => {
                tracing::debug!("request failed, trying again in {pause:?}: {e}");
                tokio::time::sleep(pause).await;
                pause *= 2;
                tried += 1;
            }
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(Status::failure("x", "y").with_code(code)))
    }

    #[test]
    fn busy_or_broken_servers_are_transient() {
        assert!(transient(&api(503)));
        assert!(transient(&api(429)));
        assert!(!transient(&api(404)));
        assert!(!transient(&api(403)));
        assert!(!transient(&api(409)));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_only() {
        let mut calls = 0;
        let r = retry(|| {
            calls += 1;
            let n = calls;
            async move { if n < 3 { Err(api(503)) } else { Ok(n) } }
        })
        .await;
        assert_eq!(r.unwrap(), 3);

        let mut calls = 0;
        let r: kube::Result<()> = retry(|| {
            calls += 1;
            async { Err(api(404)) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls, 1);

        let mut calls = 0;
        let r: kube::Result<()> = retry(|| {
            calls += 1;
            async { Err(api(500)) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls, ATTEMPTS);
    }
}
