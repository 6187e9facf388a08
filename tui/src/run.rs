//! The dashboard's loop: one `select!` owns the [`App`], folds in snapshots
//! and keys, sends the commands keys produce, and redraws at most ten times a
//! second. The loop is generic over the backend and the event source so tests
//! drive it with `TestBackend` and scripted keys.

use crate::snapshot::Snapshot;
use crate::state::{App, Command};
use crate::view;
use crossterm::event::Event;
use ratatui::backend::Backend;
use ratatui::Terminal;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The shortest time between two frames.
const FRAME: Duration = Duration::from_millis(100);
/// How long the input thread waits for a key before it checks whether anyone still listens.
const INPUT_POLL: Duration = Duration::from_millis(100);

/// Run the dashboard on the real terminal until the user quits (the
/// orchestrator gets `Command::Quit` first) or the snapshot channel closes.
/// The terminal is restored on return and on panic.
pub async fn run_dashboard(
    snapshots: watch::Receiver<Arc<Snapshot>>,
    commands: mpsc::UnboundedSender<Command>,
) -> io::Result<()> {
    let mut terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(e) => {
            ratatui::restore();
            return Err(e);
        }
    };
    let (events_tx, events) = mpsc::unbounded_channel();
    let input = std::thread::Builder::new().name("faultlab-keys".into()).spawn(move || read_input(events_tx));
    let input = match input {
        Ok(handle) => handle,
        Err(e) => {
            ratatui::restore();
            return Err(e);
        }
    };
    let result = run_with(&mut terminal, snapshots, commands, events).await;
    // Dropping the receiver (inside run_with) tells the input thread to stop;
    // wait for it so it does not read the terminal after it is restored.
    let _ = tokio::task::spawn_blocking(move || input.join()).await;
    ratatui::restore();
    result
}

/// Forward terminal events until the receiver goes away.
fn read_input(events: mpsc::UnboundedSender<io::Result<Event>>) {
    while !events.is_closed() {
        match crossterm::event::poll(INPUT_POLL) {
            Ok(false) => {}
            Ok(true) => {
                let event = crossterm::event::read();
                let failed = event.is_err();
                if events.send(event).is_err() || failed {
                    return;
                }
            }
            Err(e) => {
                let _ = events.send(Err(e));
                return;
            }
        }
    }
}

/// The dashboard loop on any backend, reading events from `events`.
/// Returns after sending `Command::Quit`, when the snapshot channel closes, or
/// when the event source ends or fails (a failed draw is an `io::Error`
/// whose source is the backend's error).
pub async fn run_with<B: Backend>(
    terminal: &mut Terminal<B>,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    commands: mpsc::UnboundedSender<Command>,
    mut events: mpsc::UnboundedReceiver<io::Result<Event>>,
) -> io::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    let mut app = App::new(snapshots.borrow_and_update().clone());
    let mut frames = tokio::time::interval(FRAME);
    frames.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = true;
    loop {
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                app.update(snapshots.borrow_and_update().clone());
                dirty = true;
            }
            event = events.recv() => match event {
                Some(Ok(Event::Key(key))) => {
                    if let Some(command) = app.on_key(key) {
                        let quit = command == Command::Quit;
                        // A closed command channel means the orchestrator is
                        // going away; the snapshot channel will close too.
                        let _ = commands.send(command);
                        if quit {
                            return Ok(());
                        }
                    }
                    dirty = true;
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            _ = frames.tick() => {
                if dirty {
                    terminal.draw(|frame| view::draw(frame, &app)).map_err(io::Error::other)?;
                    dirty = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{NodeStatus, NodeView};
    use crate::view::tests::text;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use faults::spec::{SpecKind, TargetSpec};
    use ratatui::backend::TestBackend;

    fn snapshot(status: NodeStatus) -> Arc<Snapshot> {
        let nodes = ["replica-1", "replica-2", "voter-1"]
            .iter()
            .map(|n| NodeView { name: n.to_string(), status, ..NodeView::default() })
            .collect();
        Arc::new(Snapshot { experiment: "loop-test".into(), nodes, ..Snapshot::default() })
    }

    fn key(c: char) -> io::Result<Event> {
        Ok(Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)))
    }

    #[tokio::test]
    async fn keys_become_commands_and_q_ends_the_loop() {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let (_snap_tx, snap_rx) = watch::channel(snapshot(NodeStatus::Up));
        let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        for event in [key('j'), key('c'), key('h'), key('q'), key('h')] {
            ev_tx.send(event).unwrap();
        }
        tokio::time::timeout(Duration::from_secs(5), run_with(&mut terminal, snap_rx, cmd_tx, ev_rx))
            .await
            .expect("the loop ends on q")
            .unwrap();
        let Some(Command::Inject(spec)) = cmd_rx.recv().await else { panic!("expected the crash") };
        assert_eq!((spec.kind, spec.target), (SpecKind::Crash, Some(TargetSpec::Node("replica-2".into()))));
        assert_eq!(cmd_rx.recv().await, Some(Command::HealAll));
        assert_eq!(cmd_rx.recv().await, Some(Command::Quit));
        // Nothing after quit: the loop stopped reading keys.
        assert_eq!(cmd_rx.recv().await, None);
    }

    #[tokio::test]
    async fn new_snapshots_are_drawn_and_a_closed_channel_ends_the_loop() {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let (snap_tx, snap_rx) = watch::channel(snapshot(NodeStatus::Up));
        let (cmd_tx, _cmd_rx) = mpsc::unbounded_channel();
        let (_ev_tx, ev_rx) = mpsc::unbounded_channel();
        let run = async {
            tokio::time::timeout(Duration::from_secs(5), run_with(&mut terminal, snap_rx, cmd_tx, ev_rx))
                .await
        };
        let feed = async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            snap_tx.send(snapshot(NodeStatus::Down)).unwrap();
            tokio::time::sleep(Duration::from_millis(250)).await;
            drop(snap_tx);
        };
        let (result, ()) = tokio::join!(run, feed);
        result.expect("the loop ends when the snapshots stop").unwrap();
        let screen = text(terminal.backend().buffer());
        let row = screen.iter().find(|l| l.contains("replica-2")).unwrap();
        assert!(row.contains("down"), "{row}");
    }
}
