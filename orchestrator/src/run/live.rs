//! The live side of a run: the dashboard and the Prometheus exporter, both
//! fed by the recorder's snapshots through one watch channel.

use super::{Progress, RunOptions};
use anyhow::{Context, Result};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tui::{Command, Snapshot};

/// The dashboard's commands and the tasks to stop at the end.
pub(crate) struct Live {
    pub commands: Option<mpsc::UnboundedReceiver<Command>>,
    dashboard: Option<JoinHandle<std::io::Result<()>>>,
    exporter: Option<JoinHandle<()>>,
    /// Where the exporter serves, to say so while it lingers.
    metrics_url: Option<String>,
    progress: Progress,
    /// The snapshots' sender, kept after the run so that the dashboard and
    /// the exporter go on showing the final one.
    last: Option<watch::Sender<Arc<Snapshot>>>,
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
    let (exporter, metrics_url) = match metrics {
        Some(listener) => {
            let (bound, task) =
                crate::metrics::serve_on(listener, rx.clone()).context("cannot serve metrics")?;
            let url = format!("http://{bound}/metrics");
            opts.progress.line(&format!("metrics: {url}"));
            (Some(task), Some(url))
        }
        None => (None, None),
    };
    let (commands, dashboard) = if opts.tui {
        let (ctx, crx) = mpsc::unbounded_channel();
        (Some(crx), Some(tokio::spawn(tui::run_dashboard(rx, ctx))))
    } else {
        (None, None)
    };
    let progress = opts.progress.clone();
    Ok((tx, Live { commands, dashboard, exporter, metrics_url, progress, last: None }))
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
    /// Keep the final snapshot on show after the run.
    pub(super) fn keep(&mut self, tx: watch::Sender<Arc<Snapshot>>) {
        self.last = Some(tx);
    }

    /// The report is on disk at `path`: the final snapshot says where.
    pub(super) fn report_written(&self, path: &std::path::Path) {
        if let Some(tx) = &self.last {
            let path = path.display().to_string();
            tx.send_modify(|s| Arc::make_mut(s).report = Some(path));
        }
    }

    /// After the run (its report already written): the exporter serves the
    /// final values for `linger`, the dashboard shows them until the user
    /// quits. A signal (Ctrl-C, SIGTERM, a closed terminal) ends both.
    pub(crate) async fn finish(mut self, stop: &mut super::Stop, linger: std::time::Duration) {
        let lingering = !linger.is_zero() && self.exporter.as_ref().is_some_and(|e| !e.is_finished());
        if let (true, Some(url)) = (lingering, &self.metrics_url) {
            self.progress.line(&format!(
                "metrics: serving the final values on {url} for {} (--metrics-linger; Ctrl-C stops)",
                humantime::format_duration(linger)
            ));
        }
        let exporter = async {
            if lingering {
                tokio::time::sleep(linger).await;
            }
        };
        let dashboard = async {
            if let Some(d) = self.dashboard.as_mut() {
                let _ = d.await;
            }
        };
        tokio::select! {
            _ = async { tokio::join!(exporter, dashboard) } => {}
            _ = stop.recv() => {}
        }
        if let Some(e) = self.exporter {
            e.abort();
            // Wait until the listener and the connections are closed: the
            // next run of a --repeat binds the same address.
            let _ = e.await;
        }
        // No more snapshots: a dashboard still open ends and restores the terminal.
        drop(self.last);
        if let Some(d) = self.dashboard {
            if !d.is_finished() {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), d).await;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use tui::snapshot::RunState;

    #[test]
    fn the_final_snapshot_says_where_the_report_was_written() {
        let last = Snapshot { run_state: RunState::Finished, ..Snapshot::default() };
        let (tx, rx) = watch::channel(Arc::new(last));
        let mut live = Live {
            commands: None,
            dashboard: None,
            exporter: None,
            metrics_url: None,
            progress: Progress::quiet(),
            last: None,
        };
        // Before the run is kept, there is nothing to tell.
        live.report_written(std::path::Path::new("out/x/report.html"));
        assert_eq!(rx.borrow().report, None);
        live.keep(tx);
        live.report_written(std::path::Path::new("out/x/report.html"));
        let shown = rx.borrow();
        assert_eq!(shown.report.as_deref(), Some("out/x/report.html"));
        assert_eq!(shown.run_state, RunState::Finished, "the rest of the snapshot stays");
    }
}
