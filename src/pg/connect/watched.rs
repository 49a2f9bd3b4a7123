//! A COPY stream under the stall watch, cheap per row.
//!
//! PostgreSQL sends COPY data one row per message, millions of them for a large table, so the
//! watch must cost nothing while rows keep coming: no clock read, timer, allocation or
//! environment lookup per row. The watch starts when the stream first has nothing ready (a
//! wait has begun): one timer is armed for the stall timeout and stays armed across the
//! wait's wake-ups; any row disarms it. When it fires, the server is probed on a fresh
//! connection while the stream is still polled: an answered probe means busy, not hung (the
//! watch re-arms); a failed one ends the stream with an error naming the server and what was
//! being done, as [`Target::bounded`] does for any other wait.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};

use super::{PgError, Target};
use crate::failpoint::{self, PausePoint};

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// `inner` (a COPY OUT stream) with its waits watched and its errors as [`PgError`]s naming
/// `what` was being done. Built by [`Target::watched`].
pub struct WatchedCopy<'a, S> {
    target: &'a Target,
    what: String,
    /// `None` once the stream has ended or failed.
    inner: Option<S>,
    /// The stall timer; meaningful only while `waiting`.
    timer: Pin<Box<Sleep>>,
    waiting: bool,
    /// The probe of a wait that outlasted the stall timeout.
    probe: Option<Boxed<'a, Result<(), String>>>,
    /// The `pg:mid-copy-out` pause point, when armed: the chunk it holds back.
    pausing: Option<(Boxed<'a, ()>, Bytes)>,
}

impl Target {
    /// `stream` (COPY data) with every wait for a chunk under the stall watch, and its errors as
    /// [`PgError`]s naming `what` was being done.
    pub fn watched<S>(&self, what: String, stream: S) -> WatchedCopy<'_, S>
    where
        S: Stream<Item = Result<Bytes, tokio_postgres::Error>> + Unpin,
    {
        WatchedCopy {
            target: self,
            what,
            inner: Some(stream),
            timer: Box::pin(tokio::time::sleep(self.stall)),
            waiting: false,
            probe: None,
            pausing: None,
        }
    }
}

impl<S> Stream for WatchedCopy<'_, S>
where
    S: Stream<Item = Result<Bytes, tokio_postgres::Error>> + Unpin,
{
    type Item = Result<Bytes, PgError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some((pause, _)) = this.pausing.as_mut() {
                ready!(pause.as_mut().poll(cx));
                if let Some((_, chunk)) = this.pausing.take() {
                    return Poll::Ready(Some(Ok(chunk)));
                }
            }
            let Some(inner) = this.inner.as_mut() else {
                return Poll::Ready(None);
            };
            match inner.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    this.waiting = false;
                    this.probe = None;
                    if failpoint::armed(PausePoint::PgMidCopyOut) {
                        let pause = Box::pin(failpoint::pause(PausePoint::PgMidCopyOut));
                        this.pausing = Some((pause, chunk));
                        continue;
                    }
                    return Poll::Ready(Some(Ok(chunk)));
                }
                Poll::Ready(Some(Err(e))) => {
                    this.inner = None;
                    return Poll::Ready(Some(Err(this.target.error(this.what.clone(), &e))));
                }
                Poll::Ready(None) => {
                    this.inner = None;
                    return Poll::Ready(None);
                }
                Poll::Pending => {}
            }
            if let Some(probe) = this.probe.as_mut() {
                match ready!(probe.as_mut().poll(cx)) {
                    Ok(()) => {
                        this.target.log_busy(&this.what);
                        this.probe = None;
                        this.waiting = false;
                        continue;
                    }
                    Err(reason) => {
                        this.inner = None;
                        let error = this.target.hung(this.what.clone(), &reason);
                        return Poll::Ready(Some(Err(error)));
                    }
                }
            }
            if !this.waiting {
                this.waiting = true;
                let deadline = Instant::now() + this.target.stall;
                this.timer.as_mut().reset(deadline);
            }
            ready!(this.timer.as_mut().poll(cx));
            this.waiting = false;
            this.probe = Some(Box::pin(this.target.probe()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::StreamExt;

    use super::*;
    use crate::config::{DbSettings, Secret};

    /// A target whose probes fail at once: nothing listens on its port.
    fn unreachable_target(stall: Duration) -> Target {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap_or(9);
        let settings = DbSettings {
            host: "127.0.0.1".into(),
            port,
            user: "admin".into(),
            password: Secret::new("x"),
            name: "stgy".into(),
        };
        Target::resolve(&settings, "stgy")
            .map(|target| target.with_stall(stall))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    type Chunk = Result<Bytes, tokio_postgres::Error>;

    #[tokio::test]
    async fn rows_that_keep_coming_are_never_probed_however_long_the_copy_runs() {
        let target = unreachable_target(Duration::from_millis(400));
        let slow = futures_util::stream::iter(0..8).then(|i| async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            Ok::<_, tokio_postgres::Error>(Bytes::from(format!("{i}\n")))
        });
        let chunks: Vec<_> = target
            .watched("dump table t from".into(), Box::pin(slow))
            .collect()
            .await;
        assert_eq!(chunks.len(), 8);
        assert!(chunks.iter().all(|c| c.is_ok()), "{chunks:?}");
    }

    #[tokio::test]
    async fn a_copy_that_stops_mid_way_fails_naming_the_server_and_the_table() {
        let target = unreachable_target(Duration::from_millis(300));
        let rows = vec![
            Ok(Bytes::from_static(b"1\n")),
            Ok(Bytes::from_static(b"2\n")),
        ];
        let stuck =
            futures_util::stream::iter(rows).chain(futures_util::stream::pending::<Chunk>());
        let mut watched = target.watched("dump table app.posts from".into(), stuck);
        for _ in 0..2 {
            assert!(matches!(watched.next().await, Some(Ok(_))));
        }
        let started = std::time::Instant::now();
        let failure = match watched.next().await {
            Some(Err(e)) => e.to_string(),
            other => panic!("expected the stall to fail the copy, got {other:?}"),
        };
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(failure.contains("dump table app.posts from"), "{failure}");
        assert!(failure.contains("looks hung"), "{failure}");
        assert!(failure.contains(&target.to_string()), "{failure}");
        assert!(watched.next().await.is_none(), "a failed copy ends");
    }
}
