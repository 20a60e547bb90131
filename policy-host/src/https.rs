//! A small HTTPS server on tokio and hyper, TLS from the system OpenSSL: the admission server's
//! listener, and the test webhooks' (one request handler, run off the async threads because an
//! evaluation blocks).

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// Answers one request: (method, path with query, body) → (status, JSON body).
pub type Handler = Arc<dyn Fn(&str, &str, &[u8]) -> (u16, Vec<u8>) + Send + Sync>;

/// A TLS acceptor for a PEM certificate (one certificate, as policy-server wants) and its PKCS#8
/// PEM key.
pub fn acceptor(cert_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<tokio_native_tls::TlsAcceptor> {
    let identity = native_tls::Identity::from_pkcs8(cert_pem, key_pem)
        .map_err(|e| anyhow::anyhow!("unusable certificate or key: {e}"))?;
    let acceptor =
        native_tls::TlsAcceptor::new(identity).map_err(|e| anyhow::anyhow!("TLS setup: {e}"))?;
    Ok(tokio_native_tls::TlsAcceptor::from(acceptor))
}

async fn respond(
    handler: Handler,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = request.method().as_str().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let body = request.into_body().collect().await?.to_bytes();
    let (status, answer) = tokio::task::spawn_blocking(move || handler(&method, &path, &body))
        .await
        .unwrap_or_else(|e| {
            (
                500,
                format!("{{\"message\":\"handler failed: {e}\"}}").into_bytes(),
            )
        });
    let mut response = Response::new(Full::new(Bytes::from(answer)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// Serves `handler` on `listener` until the process ends; a failed handshake or connection ends
/// only that connection.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: tokio_native_tls::TlsAcceptor,
    handler: Handler,
) -> anyhow::Result<()> {
    loop {
        let (stream, peer): (_, SocketAddr) = listener.accept().await?;
        let tls = tls.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            let stream = match tls.accept(stream).await {
                Ok(stream) => stream,
                Err(e) => {
                    eprintln!("TLS handshake with {peer} failed: {e}");
                    return;
                }
            };
            let service = service_fn(move |request| respond(handler.clone(), request));
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("connection from {peer}: {e}");
            }
        });
    }
}
