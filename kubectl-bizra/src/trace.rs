//! `-v N` / `--v N`, as kubectl has it, through `tracing` to stderr: at 6 every request to the
//! apiserver and to Prometheus (method, URL, status, duration); at 7 its headers too; at 8 the
//! request and response bodies, each cut at 10 KiB; at 9 whole, and the client libraries' own
//! debug records. 0 (the default) logs nothing.
//!
//! Requests are logged by a layer around each client's stack ([`client`]), so every request a
//! command makes is seen, Prometheus queries through the apiserver's service proxy included.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use kube::client::Body;
use tracing::Level;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;

static VERBOSITY: AtomicU8 = AtomicU8::new(0);

/// Requests are logged from this level.
pub const REQUESTS: u8 = 6;
/// Request headers from this level.
pub const HEADERS: u8 = 7;
/// Bodies, cut at [`BODY_LIMIT`], from this level.
pub const BODIES: u8 = 8;
/// Whole bodies, and other crates' debug records, from this level.
pub const EVERYTHING: u8 = 9;
const BODY_LIMIT: usize = 10 * 1024;

pub fn verbosity() -> u8 {
    VERBOSITY.load(Ordering::Relaxed)
}

/// Sets the level and, above 0, sends log records to stderr (above live progress lines).
pub fn init(verbosity: u8) {
    VERBOSITY.store(verbosity, Ordering::Relaxed);
    if verbosity == 0 {
        return;
    }
    let others = match verbosity {
        EVERYTHING => LevelFilter::DEBUG,
        v if v > EVERYTHING => LevelFilter::TRACE,
        _ => LevelFilter::OFF,
    };
    let filter = Targets::new()
        .with_target("kubectl_bizra", Level::TRACE)
        .with_default(others);
    let subscriber = tracing_subscriber::fmt()
        .with_writer(|| LogRecord(Vec::new()))
        .with_ansi(false)
        .with_max_level(Level::TRACE)
        .finish()
        .with(filter);
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// One record, written out whole when dropped (so that it lands above the live lines).
struct LogRecord(Vec<u8>);

impl std::io::Write for LogRecord {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogRecord {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            crate::progress::progress().write_raw(&self.0);
        }
    }
}

/// A client for `config` whose requests are logged at `-v 6` and above.
pub fn client(config: kube::Config) -> Result<kube::Client, kube::Error> {
    let base = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_owned();
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&RequestLogLayer { base })
        .build())
}

/// Text of a body for the log: UTF-8 (lossy), cut at [`BODY_LIMIT`] below [`EVERYTHING`].
/// One header per line; credentials masked as kubectl masks them (`Bearer <masked>`), so a log
/// at `-v 7` can be shared.
fn headers_text(headers: &http::HeaderMap) -> String {
    let mut text = String::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        let shown =
            if name == http::header::AUTHORIZATION || name == http::header::PROXY_AUTHORIZATION {
                match value.split_once(' ') {
                    Some((scheme, _)) => format!("{scheme} <masked>"),
                    None => "<masked>".to_string(),
                }
            } else {
                value.into_owned()
            };
        let _ = write!(text, "\n    {name}: {shown}");
    }
    text
}

/// How much of a body is kept for the log: [`BODY_LIMIT`] below level 9, all of it at 9.
fn body_limit() -> usize {
    if verbosity() >= EVERYTHING {
        usize::MAX
    } else {
        BODY_LIMIT
    }
}

/// The first `kept` bytes of a body of `total` bytes, as text; a cut says the whole size and
/// never splits a character.
fn body_text(kept: &[u8], total: usize) -> String {
    if total <= kept.len() {
        return String::from_utf8_lossy(kept).into_owned();
    }
    let whole_characters = match std::str::from_utf8(kept) {
        Ok(_) => kept,
        Err(error) if error.error_len().is_none() => &kept[..error.valid_up_to()],
        Err(_) => kept,
    };
    let mut text = String::from_utf8_lossy(whole_characters).into_owned();
    let _ = write!(text, " [cut: {total} bytes in all]");
    text
}

/// A response body as it is read, cut into what the log shows: one entry per line (a watch's
/// events are one JSON document per line; other answers are one line), each cut at `limit`,
/// whatever frames the bytes came in.
#[derive(Debug, Default)]
struct BodyLog {
    kept: Vec<u8>,
    total: usize,
}

impl BodyLog {
    /// The entries `data` completes.
    fn feed(&mut self, data: &[u8], limit: usize) -> Vec<String> {
        let mut entries = Vec::new();
        let mut rest = data;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            self.keep(&rest[..end], limit);
            entries.extend(self.finish());
            rest = &rest[end + 1..];
        }
        self.keep(rest, limit);
        entries
    }

    fn keep(&mut self, piece: &[u8], limit: usize) {
        self.total += piece.len();
        let room = limit.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&piece[..piece.len().min(room)]);
    }

    /// What is left (the body ended, or its last line had no newline).
    fn finish(&mut self) -> Option<String> {
        let entry = (self.total > 0).then(|| body_text(&self.kept, self.total));
        self.kept.clear();
        self.total = 0;
        entry
    }
}

#[derive(Clone)]
pub struct RequestLogLayer {
    base: String,
}

impl<S> tower_layer::Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;
    fn layer(&self, inner: S) -> RequestLog<S> {
        RequestLog {
            inner,
            base: self.base.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RequestLog<S> {
    inner: S,
    base: String,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower_service::Service<Request<Body>> for RequestLog<S>
where
    S: tower_service::Service<Request<Body>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display + Send + 'static,
    B: HttpBody<Data = Bytes> + Unpin + Send + 'static,
{
    type Response = Response<LoggedBody<B>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let level = verbosity();
        if level < REQUESTS {
            let call = self.inner.call(request);
            return Box::pin(async move {
                let response = call.await?;
                Ok(response.map(|body| LoggedBody {
                    inner: body,
                    log: None,
                }))
            });
        }
        let method = request.method().clone();
        let url = format!("{}{}", self.base, request.uri());
        if level >= HEADERS {
            tracing::info!(
                "Request Headers: {method} {url}{}",
                headers_text(request.headers())
            );
        }
        let body = (level >= BODIES)
            .then(|| request.body().try_clone())
            .flatten();
        // `call` after `poll_ready` on this very service, as tower requires.
        let call = self.inner.call(request);
        Box::pin(async move {
            if let Some(body) = body
                && let Ok(bytes) = body.collect_bytes().await
                && !bytes.is_empty()
            {
                let kept = &bytes[..bytes.len().min(body_limit())];
                tracing::info!("Request Body: {}", body_text(kept, bytes.len()));
            }
            let started = Instant::now();
            match call.await {
                Ok(response) => {
                    tracing::info!(
                        "{method} {url} {} in {} milliseconds",
                        response.status(),
                        started.elapsed().as_millis()
                    );
                    if level >= HEADERS {
                        tracing::info!("Response Headers:{}", headers_text(response.headers()));
                    }
                    Ok(response.map(|body| LoggedBody {
                        inner: body,
                        log: (level >= BODIES).then(BodyLog::default),
                    }))
                }
                Err(error) => {
                    tracing::info!(
                        "{method} {url} failed after {} milliseconds: {error}",
                        started.elapsed().as_millis()
                    );
                    Err(error)
                }
            }
        })
    }
}

/// A response body that logs its data as it is read (a watch's events one by one).
pub struct LoggedBody<B> {
    inner: B,
    log: Option<BodyLog>,
}

impl<B> Drop for LoggedBody<B> {
    /// A body dropped before its end (a watch stopped) still logs what was read of it.
    fn drop(&mut self) {
        if let Some(entry) = self.log.as_mut().and_then(BodyLog::finish) {
            tracing::info!("Response Body: {entry}");
        }
    }
}

impl<B> HttpBody for LoggedBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Some(log) = self.log.as_mut() {
            let entries = match &polled {
                Poll::Ready(Some(Ok(frame))) => frame
                    .data_ref()
                    .map(|data| log.feed(data, body_limit()))
                    .unwrap_or_default(),
                Poll::Ready(None) => log.finish().into_iter().collect(),
                _ => Vec::new(),
            };
            for entry in entries {
                tracing::info!("Response Body: {entry}");
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_one_entry_per_line_whatever_its_frames_and_cut_whole() {
        // A 25 KiB answer in frames of 4 KiB: one entry, cut at the limit, the size of it all.
        let answer = vec![b'x'; 25 * 1024];
        let mut log = BodyLog::default();
        let mut entries = Vec::new();
        for frame in answer.chunks(4096) {
            entries.extend(log.feed(frame, BODY_LIMIT));
        }
        entries.extend(log.finish());
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(
            entries[0],
            format!("{} [cut: 25600 bytes in all]", "x".repeat(BODY_LIMIT))
        );
        // Whole at level 9.
        let mut log = BodyLog::default();
        assert!(log.feed(&answer, usize::MAX).is_empty());
        assert_eq!(log.finish().map(|e| e.len()), Some(answer.len()));
        // A watch: each event its own entry, across frame boundaries.
        let events = b"{\"type\":\"ADDED\"}\n{\"type\":\"MODI";
        let mut log = BodyLog::default();
        assert_eq!(log.feed(events, BODY_LIMIT), ["{\"type\":\"ADDED\"}"]);
        assert_eq!(
            log.feed(b"FIED\"}\n", BODY_LIMIT),
            ["{\"type\":\"MODIFIED\"}"]
        );
        assert_eq!(log.finish(), None);
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let text = "ä".repeat(10);
        let kept = &text.as_bytes()[..5];
        assert_eq!(body_text(kept, text.len()), "ää [cut: 20 bytes in all]");
    }

    #[test]
    fn credentials_are_masked_in_headers() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer s3cr3t-token"),
        );
        headers.insert(
            http::header::PROXY_AUTHORIZATION,
            http::HeaderValue::from_static("opaque"),
        );
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        let text = headers_text(&headers);
        assert!(
            !text.contains("s3cr3t") && !text.contains("opaque"),
            "{text}"
        );
        assert!(
            text.contains("\n    authorization: Bearer <masked>"),
            "{text}"
        );
        assert!(
            text.contains("\n    proxy-authorization: <masked>"),
            "{text}"
        );
        assert!(text.contains("\n    accept: application/json"), "{text}");
    }
}
