//! The Prometheus exporter: the recorder's latest snapshot, collected into a
//! `prometheus` registry and served as `GET /metrics` by hyper (HTTP/1.1,
//! keep-alive, as Prometheus scrapes).

mod encode;

pub use encode::{encode, registry, scrape, SnapshotCollector, RECOVERY_BUCKETS};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE as CONTENT_TYPE_HEADER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus::Registry;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tui::snapshot::Snapshot;

/// The content type of the text exposition format ([`prometheus::TEXT_FORMAT`] with its charset).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a client may take to send a request's head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Bind `addr` and serve `GET /metrics` from the newest snapshot in `snapshots`.
/// Returns the bound address (so port 0 works) and the server's task; abort it to stop.
pub async fn serve(
    addr: SocketAddr,
    snapshots: watch::Receiver<Arc<Snapshot>>,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    serve_on(bind(addr).await?, snapshots)
}

/// Bind the exporter's address. A run does this before it deploys anything,
/// so an address in use is reported before any agent is started.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serve `GET /metrics` on an already bound `listener` (see [`serve`]).
/// Aborting the task closes the listener and every open connection.
pub fn serve_on(
    listener: TcpListener,
    snapshots: watch::Receiver<Arc<Snapshot>>,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let bound = listener.local_addr()?;
    let registry = Arc::new(registry(snapshots).map_err(io::Error::other)?);
    let task = tokio::spawn(async move {
        // The connections belong to this task: aborting it drops the set,
        // which aborts them, so a keep-alive scraper is cut off too.
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(connection(stream, registry.clone()));
                    }
                    // Out of file descriptors and the like: wait rather than spin.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                },
                Some(_) = connections.join_next() => {}
            }
        }
    });
    Ok((bound, task))
}

/// Serve one connection until the client closes it or goes quiet.
async fn connection(stream: tokio::net::TcpStream, registry: Arc<Registry>) {
    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
        let response = respond(request.method(), request.uri().path(), &registry);
        async move { Ok::<_, Infallible>(response) }
    });
    // A scraper that went away or sent garbage: there is nobody to tell.
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// The response to `method path`; hyper leaves the body out for HEAD.
fn respond(method: &Method, path: &str, registry: &Registry) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "only GET and HEAD\n");
        r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match path {
        "/metrics" => match scrape(registry) {
            Ok(body) => text(StatusCode::OK, CONTENT_TYPE, body),
            Err(e) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                format!("cannot encode the metrics: {e}\n"),
            ),
        },
        "/" => text(
            StatusCode::OK,
            "text/html; charset=utf-8",
            "<!doctype html><title>faultlab</title><p>faultlab exporter: <a href=\"/metrics\">/metrics</a></p>\n",
        ),
        _ => text(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found; try /metrics\n"),
    }
}

/// A response with this status, content type and body.
fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE_HEADER, HeaderValue::from_static(content_type));
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn registry_of(s: Snapshot) -> Registry {
        registry(watch::channel(Arc::new(s)).1).unwrap()
    }

    #[test]
    fn the_content_type_is_the_text_format_the_encoder_writes() {
        assert!(CONTENT_TYPE.starts_with(prometheus::TEXT_FORMAT));
    }

    #[test]
    fn only_metrics_and_the_root_are_served() {
        let r = registry_of(Snapshot { experiment: "x".into(), ..Snapshot::default() });
        let ok = respond(&Method::GET, "/metrics", &r);
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()[CONTENT_TYPE_HEADER], CONTENT_TYPE);
        assert_eq!(respond(&Method::HEAD, "/metrics", &r).status(), StatusCode::OK);
        assert_eq!(respond(&Method::GET, "/", &r).status(), StatusCode::OK);
        assert_eq!(respond(&Method::GET, "/metrics/", &r).status(), StatusCode::NOT_FOUND);
        assert_eq!(respond(&Method::GET, "/favicon.ico", &r).status(), StatusCode::NOT_FOUND);
        let post = respond(&Method::POST, "/metrics", &r);
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()[ALLOW], "GET, HEAD");
    }
}
