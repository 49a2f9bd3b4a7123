//! Bounded waits and retries around object store operations, the same for every store.
//!
//! - An operation has a budget: the stall timeout, or for an upload the stall timeout plus the
//!   time its bytes take at [`MIN_UPLOAD_RATE`] (the SDK does not report upload progress, so a
//!   budget scaled by size stands in for "no byte sent for that long").
//! - A failure of kind [`StoreErrorKind::Transient`] that comes back (a 5xx, throttling, a
//!   reset) is tried again, up to [`Patience::attempts`] in all, with exponential backoff, as
//!   long as the budget lasts; anything else fails at once, and so does an operation still
//!   unanswered when its budget runs out.
//! - Every chunk of a body must arrive within the stall timeout.
//!
//! So a server that stops answering — a hung VM, a partition with no reset — fails the run
//! within the stall timeout (plus the time its uploads' bytes may take), instead of holding it
//! and the root lock for ever; a server that answers 503 for a moment does not fail it.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;

use super::store::{Body, StoreError, StoreErrorKind, StoreResult};

/// The slowest upload rate an upload's deadline allows for (256 KiB/s).
pub const MIN_UPLOAD_RATE: u64 = 256 * 1024;

/// How long to wait and how often to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// The longest a request may go unanswered, or a body without a byte.
    pub stall: Duration,
    /// Attempts per operation, the first included.
    pub attempts: u32,
    /// The wait before the second attempt; each later wait is four times the one before.
    pub backoff: Duration,
}

impl Patience {
    /// `stall` with the default attempts (3) and backoff (0.5 s, then 2 s).
    pub fn new(stall: Duration) -> Patience {
        Patience {
            stall,
            attempts: 3,
            backoff: Duration::from_millis(500),
        }
    }

    /// The deadline for an upload of `bytes`.
    pub fn upload_deadline(&self, bytes: u64) -> Duration {
        self.stall + Duration::from_secs(bytes / MIN_UPLOAD_RATE)
    }

    /// Runs `operation` within `budget`, trying transient failures again while it lasts.
    pub async fn retry<T, F, Fut>(&self, budget: Duration, mut operation: F) -> StoreResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = StoreResult<T>>,
    {
        let started = Instant::now();
        let mut wait = self.backoff;
        let mut attempt = 1;
        loop {
            let left = budget.saturating_sub(started.elapsed());
            let Ok(result) = tokio::time::timeout(left, operation()).await else {
                return Err(StoreError::new(
                    StoreErrorKind::Stalled,
                    format!("no answer within {}s", budget.as_secs_f64()),
                ));
            };
            match result {
                Err(e)
                    if e.is_transient()
                        && attempt < self.attempts.max(1)
                        && started.elapsed() + wait < budget =>
                {
                    tracing::debug!("attempt {attempt} failed ({e}); trying again in {wait:?}");
                    tokio::time::sleep(wait).await;
                    wait *= 4;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The next chunk of `body`, or `None` at its end; no chunk within the stall timeout is a
    /// transient failure.
    pub async fn next_chunk(&self, body: &mut Body) -> StoreResult<Option<Bytes>> {
        match tokio::time::timeout(self.stall, body.next()).await {
            Ok(Some(chunk)) => chunk.map(Some),
            Ok(None) => Ok(None),
            Err(_) => Err(StoreError::new(
                StoreErrorKind::Stalled,
                format!(
                    "the body stalled: no byte for {}s",
                    self.stall.as_secs_f64()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn quick() -> Patience {
        Patience {
            stall: Duration::from_millis(100),
            attempts: 3,
            backoff: Duration::from_millis(1),
        }
    }

    #[tokio::test]
    async fn transient_failures_are_tried_again_and_others_are_not() {
        let calls = AtomicU32::new(0);
        let result = quick()
            .retry(Duration::from_secs(1), || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(StoreError::new(StoreErrorKind::Transient, "503")),
                    _ => Ok(7),
                }
            })
            .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let result: StoreResult<()> = quick()
            .retry(Duration::from_secs(1), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(StoreError::new(StoreErrorKind::NotFound, "404"))
            })
            .await;
        assert_eq!(result.unwrap_err().kind, StoreErrorKind::NotFound);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a 404 is not tried again");
    }

    #[tokio::test]
    async fn an_operation_that_never_answers_fails_when_its_budget_runs_out() {
        let started = Instant::now();
        let result: StoreResult<()> = quick()
            .retry(Duration::from_millis(50), std::future::pending)
            .await;
        let error = result.unwrap_err();
        assert!(error.is_stall(), "{error}");
        assert!(error.message.contains("no answer within"), "{error}");
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(50) && elapsed < Duration::from_millis(150),
            "one budget, not one per attempt: {elapsed:?}"
        );
    }

    #[tokio::test]
    async fn a_body_without_bytes_for_the_stall_timeout_fails() {
        let mut body: Body = Box::pin(futures_util::stream::pending());
        let error = quick().next_chunk(&mut body).await.unwrap_err();
        assert!(error.message.contains("stalled"), "{error}");
        let mut body: Body = Box::pin(futures_util::stream::iter([Ok(Bytes::from("x"))]));
        assert_eq!(quick().next_chunk(&mut body).await.unwrap().unwrap(), "x");
        assert!(quick().next_chunk(&mut body).await.unwrap().is_none());
    }

    #[test]
    fn uploads_get_time_for_their_bytes() {
        let patience = Patience::new(Duration::from_secs(30));
        assert_eq!(
            patience.upload_deadline(64 * 1024 * 1024),
            Duration::from_secs(30 + 256)
        );
    }
}
