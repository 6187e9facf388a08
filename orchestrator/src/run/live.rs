//! The live side of a run: the dashboard and the Prometheus exporter, both
//! fed by the recorder's snapshots through one watch channel.

use super::RunOptions;
use anyhow::{Context, Result};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tui::{Command, Snapshot};

/// The dashboard's commands and the tasks to stop at the end.
pub(super) struct Live {
    pub commands: Option<mpsc::UnboundedReceiver<Command>>,
    dashboard: Option<JoinHandle<std::io::Result<()>>>,
    exporter: Option<JoinHandle<()>>,
}

/// Binds the exporter's address if the options ask for one; called before
/// deploy, so an address in use stops the run before any agent starts.
pub(super) async fn bind_metrics(opts: &RunOptions) -> Result<Option<tokio::net::TcpListener>> {
    match opts.metrics_addr {
        Some(addr) => Ok(Some(
            crate::metrics::bind(addr).await.with_context(|| format!("cannot serve metrics on {addr}"))?,
        )),
        None => Ok(None),
    }
}

/// Start the exporter (on the listener `bind_metrics` bound) and the
/// dashboard that the options ask for.
pub(super) async fn start(
    opts: &RunOptions,
    metrics: Option<tokio::net::TcpListener>,
    first: Snapshot,
) -> Result<(watch::Sender<Arc<Snapshot>>, Live)> {
    let (tx, rx) = watch::channel(Arc::new(first));
    let exporter = match metrics {
        Some(listener) => {
            let (bound, task) =
                crate::metrics::serve_on(listener, rx.clone()).context("cannot serve metrics")?;
            opts.progress.line(&format!("metrics: http://{bound}/metrics"));
            Some(task)
        }
        None => None,
    };
    let (commands, dashboard) = if opts.tui {
        let (ctx, crx) = mpsc::unbounded_channel();
        (Some(crx), Some(tokio::spawn(tui::run_dashboard(rx, ctx))))
    } else {
        (None, None)
    };
    Ok((tx, Live { commands, dashboard, exporter }))
}

/// The next command from the dashboard (never, without one).
pub(super) async fn next(rx: &mut Option<mpsc::UnboundedReceiver<Command>>) -> Option<Command> {
    match rx {
        Some(r) => match r.recv().await {
            Some(c) => Some(c),
            // The dashboard is gone (its terminal failed): keep running headless.
            None => {
                *rx = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

impl Live {
    /// Stop the exporter; let the dashboard show the final snapshot until the user quits.
    pub(super) async fn finish(self) {
        if let Some(e) = self.exporter {
            e.abort();
        }
        if let Some(d) = self.dashboard {
            let _ = d.await;
        }
    }
}
