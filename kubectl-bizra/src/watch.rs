//! Following one named object through the watch API, as `status --watch` does: read it (a list
//! of that one name, which also gives a resourceVersion when it does not exist), then watch from
//! there with bookmarks. When the server ends the watch (its timeout) it is resumed from the
//! last resourceVersion seen; when that version has expired (410 Gone: the apiserver no longer
//! holds the history) the object is read again; when the connection fails (an apiserver restart)
//! it is retried with a growing pause, and resumed. What to do after each happening is decided
//! by [`next`], a pure function; [`follow`] does the reading.

use std::fmt::Debug;
use std::time::Duration;

use futures::stream::{BoxStream, Stream, StreamExt};
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::core::Resource;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::error::{ClusterError, classify_kube_error};

/// What a watcher of one object hears.
#[derive(Debug, Clone, PartialEq)]
pub enum Happened {
    /// The object as it is now (read, added or modified).
    Object {
        resource_version: Option<String>,
    },
    /// It does not exist (read as absent, or deleted).
    Absent {
        resource_version: Option<String>,
    },
    Bookmark {
        resource_version: String,
    },
    /// The watch request was answered: events follow.
    Watching,
    /// 410 Gone: the resourceVersion is older than the history the apiserver keeps.
    Expired,
    /// The server ended the watch after it had run for `lasted` (its timeout, or a proxy's).
    Ended {
        lasted: Duration,
    },
    /// The connection failed or the apiserver is unavailable (restarting, overloaded, 429, 5xx):
    /// what was heard still holds, so the watch resumes from there.
    Lost(String),
    /// The server answered with an error that asking again from the same version will not mend
    /// (a version it does not accept, a resource that went away): read the object again.
    Refused(String),
    /// The credentials may not read or watch it (401, 403): nothing will change that.
    Denied(String),
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Hand the object (or its absence) on, and go on watching.
    Show,
    /// Go on watching.
    Continue,
    /// Read the object again after `after`; `notice` says why.
    ReadAgain {
        after: Duration,
        notice: Option<String>,
    },
    /// Watch again from the last resourceVersion after `after`; `notice` says why.
    Retry {
        after: Duration,
        notice: Option<String>,
    },
    /// Give up following it.
    Stop,
}

/// The pause before retry number `failures` (1, 2, 4, 8, then 16 s).
pub fn pause(failures: u32) -> Duration {
    Duration::from_secs(1 << failures.saturating_sub(1).min(4))
}

/// A watch the server ends sooner than this is not resumed at once: something between us and
/// the apiserver is closing watches, and a tight loop would only load it.
pub const SHORTEST_WATCH: Duration = Duration::from_secs(1);

/// Failures are said at the first, then at every this many in a row, so a long outage is not
/// silent and a short one says one line.
pub const SAY_AGAIN_EVERY: u32 = 10;

/// What follows `happened` for the watcher of `what`, after `failures` failures in a row (this
/// one counted).
pub fn next(what: &str, happened: &Happened, failures: u32) -> Next {
    let say = |why: &str, then: &str| {
        if failures == 1 {
            Some(format!("lost the watch of {what}: {why}; {then}"))
        } else if failures.is_multiple_of(SAY_AGAIN_EVERY) {
            Some(format!(
                "still cannot watch {what} after {failures} attempts: {why}; {then}"
            ))
        } else {
            None
        }
    };
    match happened {
        Happened::Object { .. } | Happened::Absent { .. } => Next::Show,
        Happened::Bookmark { .. } | Happened::Watching => Next::Continue,
        Happened::Expired => Next::ReadAgain {
            after: Duration::ZERO,
            notice: Some(format!(
                "the watch of {what} expired (410 Gone): reading it again"
            )),
        },
        Happened::Ended { lasted } => Next::Retry {
            after: if *lasted < SHORTEST_WATCH {
                SHORTEST_WATCH
            } else {
                Duration::ZERO
            },
            notice: None,
        },
        Happened::Lost(why) => Next::Retry {
            after: pause(failures),
            notice: say(why, "retrying"),
        },
        Happened::Refused(why) => Next::ReadAgain {
            after: pause(failures),
            notice: say(why, "reading it again"),
        },
        Happened::Denied(_) => Next::Stop,
    }
}

/// What a follower hands on.
#[derive(Debug)]
pub enum Seen<K> {
    Object(K),
    Absent,
    /// Something to tell the user (a lost or expired watch, and its recovery).
    Notice(String),
    /// The follower gave up (the credentials may not watch it); it hands on nothing more.
    Stopped(ClusterError),
}

struct Follower<K: Clone + DeserializeOwned + Debug + Send + 'static> {
    api: Api<K>,
    /// The apiserver, for messages.
    server: String,
    name: String,
    what: String,
    /// Handed on at the next step (after a recovery notice).
    pending: Option<Seen<K>>,
    resource_version: Option<String>,
    events: Option<BoxStream<'static, kube::Result<WatchEvent<K>>>>,
    failures: u32,
    /// Read again (from a list) before watching.
    read: bool,
    /// When the current watch was answered.
    watching_since: Option<Instant>,
    /// The last error, handed on when the follower gives up.
    error: Option<ClusterError>,
    stopped: bool,
}

impl<K> Follower<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    fn selector(&self) -> String {
        format!("metadata.name={}", self.name)
    }

    /// One step: the next happening, with the object when there is one.
    async fn hear(&mut self) -> (Happened, Option<Seen<K>>) {
        if self.read {
            let params = ListParams::default().fields(&self.selector());
            return match self.api.list(&params).await {
                Ok(list) => {
                    let resource_version = list.metadata.resource_version.clone();
                    match list.items.into_iter().next() {
                        Some(object) => (
                            Happened::Object { resource_version },
                            Some(Seen::Object(object)),
                        ),
                        None => (Happened::Absent { resource_version }, Some(Seen::Absent)),
                    }
                }
                Err(error) => (self.failed(error), None),
            };
        }
        let events = match self.events.as_mut() {
            Some(events) => events,
            None => {
                // Bookmarks are on by default: they keep the resourceVersion fresh.
                let params = WatchParams::default().fields(&self.selector()).timeout(290);
                let from = self.resource_version.clone().unwrap_or_default();
                return match self.api.watch(&params, &from).await {
                    Ok(events) => {
                        self.events = Some(events.boxed());
                        self.watching_since = Some(Instant::now());
                        (Happened::Watching, None)
                    }
                    Err(kube::Error::Api(status)) if status.code == 410 => {
                        (Happened::Expired, None)
                    }
                    Err(error) => (self.failed(error), None),
                };
            }
        };
        match events.next().await {
            None => (
                Happened::Ended {
                    lasted: self
                        .watching_since
                        .map_or(Duration::ZERO, |since| since.elapsed()),
                },
                None,
            ),
            Some(Ok(WatchEvent::Added(object) | WatchEvent::Modified(object))) => (
                Happened::Object {
                    resource_version: object.meta().resource_version.clone(),
                },
                Some(Seen::Object(object)),
            ),
            Some(Ok(WatchEvent::Deleted(object))) => (
                Happened::Absent {
                    resource_version: object.meta().resource_version.clone(),
                },
                Some(Seen::Absent),
            ),
            Some(Ok(WatchEvent::Bookmark(bookmark))) => (
                Happened::Bookmark {
                    resource_version: bookmark.metadata.resource_version,
                },
                None,
            ),
            Some(Ok(WatchEvent::Error(status))) if status.code == 410 => (Happened::Expired, None),
            Some(Ok(WatchEvent::Error(status))) => (self.failed(kube::Error::Api(status)), None),
            Some(Err(error)) => (self.failed(error), None),
        }
    }

    /// What an error means for the watch; the error is kept to hand on if it ends it.
    fn failed(&mut self, error: kube::Error) -> Happened {
        // The server's own message reads best; the client's errors say what they are.
        let answered = match &error {
            kube::Error::Api(status) => Some(format!("{} ({})", status.message, status.code)),
            _ => None,
        };
        let error = classify_kube_error(&self.server, error);
        let why = answered.unwrap_or_else(|| error.to_string());
        let happened = match &error {
            ClusterError::Unreachable { .. } | ClusterError::Unavailable(_) => Happened::Lost(why),
            ClusterError::Forbidden(_)
            | ClusterError::Unauthorized { .. }
            | ClusterError::Credentials { .. } => Happened::Denied(why),
            _ => Happened::Refused(why),
        };
        self.error = Some(error);
        happened
    }

    /// Steps until there is something to hand on.
    async fn step(mut self) -> (Seen<K>, Self) {
        if let Some(seen) = self.pending.take() {
            return (seen, self);
        }
        loop {
            let (happened, seen) = self.hear().await;
            let failed = matches!(
                happened,
                Happened::Lost(_) | Happened::Refused(_) | Happened::Denied(_)
            );
            let recovered = self.failures > 0 && !failed;
            match &happened {
                Happened::Object { resource_version } | Happened::Absent { resource_version } => {
                    if resource_version.is_some() {
                        self.resource_version = resource_version.clone();
                    }
                    self.read = false;
                }
                Happened::Bookmark { resource_version } => {
                    self.resource_version = Some(resource_version.clone());
                }
                Happened::Lost(_) | Happened::Refused(_) | Happened::Denied(_) => {
                    self.failures += 1
                }
                Happened::Watching | Happened::Expired | Happened::Ended { .. } => {}
            }
            if recovered {
                self.failures = 0;
            }
            let back = Seen::Notice(format!("watching {} again", self.what));
            match next(&self.what, &happened, self.failures) {
                Next::Show => {
                    if let Some(seen) = seen {
                        if recovered {
                            self.pending = Some(seen);
                            return (back, self);
                        }
                        return (seen, self);
                    }
                }
                Next::Continue => {
                    if recovered {
                        return (back, self);
                    }
                }
                Next::ReadAgain { after, notice } => {
                    self.events = None;
                    self.read = true;
                    if !after.is_zero() {
                        tokio::time::sleep(after).await;
                    }
                    if let Some(notice) = notice {
                        return (Seen::Notice(notice), self);
                    }
                }
                Next::Stop => {
                    self.stopped = true;
                    let error = self.error.take().unwrap_or_else(|| {
                        ClusterError::Unreadable(format!("the watch of {} ended", self.what))
                    });
                    return (Seen::Stopped(error), self);
                }
                Next::Retry { after, notice } => {
                    self.events = None;
                    if self.resource_version.is_none() {
                        self.read = true;
                    }
                    if !after.is_zero() {
                        tokio::time::sleep(after).await;
                    }
                    if let Some(notice) = notice {
                        return (Seen::Notice(notice), self);
                    }
                }
            }
        }
    }
}

/// Every state `name` takes in `api`, as it changes, until the stream is dropped. `what` names
/// it in notices (`deployment bizra-apex`).
pub fn follow<K>(
    api: Api<K>,
    server: &str,
    name: &str,
    what: String,
) -> impl Stream<Item = Seen<K>> + use<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let follower = Follower {
        api,
        server: server.to_owned(),
        name: name.to_owned(),
        what,
        pending: None,
        resource_version: None,
        events: None,
        failures: 0,
        read: true,
        watching_since: None,
        error: None,
        stopped: false,
    };
    futures::stream::unfold(follower, |follower| async move {
        if follower.stopped {
            return None;
        }
        let (seen, follower) = follower.step().await;
        Some((seen, follower))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_follows_each_happening() {
        let rv = |v: &str| Some(v.to_owned());
        assert_eq!(
            next(
                "x",
                &Happened::Object {
                    resource_version: rv("5")
                },
                0
            ),
            Next::Show
        );
        assert_eq!(
            next(
                "x",
                &Happened::Absent {
                    resource_version: None
                },
                0
            ),
            Next::Show
        );
        assert_eq!(
            next(
                "x",
                &Happened::Bookmark {
                    resource_version: "9".into()
                },
                0
            ),
            Next::Continue
        );
        assert_eq!(next("x", &Happened::Watching, 0), Next::Continue);
        assert_eq!(
            next("deployment d", &Happened::Expired, 0),
            Next::ReadAgain {
                after: Duration::ZERO,
                notice: Some(
                    "the watch of deployment d expired (410 Gone): reading it again".into()
                )
            }
        );
        // The server's timeout ends a watch: resumed at once, unless it keeps ending them early.
        assert_eq!(
            next(
                "x",
                &Happened::Ended {
                    lasted: Duration::from_secs(290)
                },
                0
            ),
            Next::Retry {
                after: Duration::ZERO,
                notice: None
            }
        );
        assert_eq!(
            next(
                "x",
                &Happened::Ended {
                    lasted: Duration::from_millis(3)
                },
                0
            ),
            Next::Retry {
                after: SHORTEST_WATCH,
                notice: None
            }
        );
        // The first failure is said; the next ones wait longer, quietly, and a long outage is
        // said again every tenth.
        assert_eq!(
            next(
                "deployment d",
                &Happened::Lost("connection refused".into()),
                1
            ),
            Next::Retry {
                after: Duration::from_secs(1),
                notice: Some("lost the watch of deployment d: connection refused; retrying".into())
            }
        );
        assert_eq!(
            next("x", &Happened::Lost("refused".into()), 3),
            Next::Retry {
                after: Duration::from_secs(4),
                notice: None
            }
        );
        assert_eq!(
            next("x", &Happened::Lost("refused".into()), 20),
            Next::Retry {
                after: Duration::from_secs(16),
                notice: Some("still cannot watch x after 20 attempts: refused; retrying".into())
            }
        );
        // An error the same version will not mend: read again, pausing as for a lost watch.
        assert_eq!(
            next(
                "x",
                &Happened::Refused("the server could not find it (404)".into()),
                2
            ),
            Next::ReadAgain {
                after: Duration::from_secs(2),
                notice: None
            }
        );
        assert_eq!(
            next(
                "x",
                &Happened::Refused("too large resource version".into()),
                1
            ),
            Next::ReadAgain {
                after: Duration::from_secs(1),
                notice: Some(
                    "lost the watch of x: too large resource version; reading it again".into()
                )
            }
        );
        // Credentials that may not watch: give up, whatever the count.
        assert_eq!(
            next("x", &Happened::Denied("forbidden".into()), 1),
            Next::Stop
        );
        assert_eq!(pause(9), Duration::from_secs(16));
    }
}
