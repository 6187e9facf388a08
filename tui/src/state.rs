//! The dashboard's pure state model: the latest snapshot, what the user has
//! selected, and what each key asks the orchestrator to do. No terminal, no
//! drawing, no clock: tests drive it with key events.

use crate::snapshot::Snapshot;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use faults::spec::{ByzantineSpecMode, DelayLaw, FaultSpec, SpecKind, TargetSpec};
use faults::{Direction, Dur};
use std::sync::Arc;
use std::time::Duration;

/// What the orchestrator must execute on the dashboard's behalf.
// One command per key press: boxing the spec would only cost the callers a deref.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// A fault on the selected node (or the cluster), the same type as a YAML entry
    /// without `at`: the orchestrator starts it now, through the file faults' validation.
    Inject(FaultSpec),
    /// End every active fault (restart crashed nodes, resume paused ones, remove rules).
    HealAll,
    /// Pause or resume the experiment's schedule.
    TogglePause,
    /// Stop the run (the orchestrator cleans up).
    Quit,
}

/// How long the short manual faults last.
const SHORT: Duration = Duration::from_secs(5);
/// How long the message faults last.
const LONG: Duration = Duration::from_secs(10);

/// The dashboard's state between frames.
#[derive(Clone, Debug, Default)]
pub struct App {
    /// The latest snapshot from the recorder.
    pub snapshot: Arc<Snapshot>,
    /// Index of the selected node in `snapshot.nodes`.
    pub selected: usize,
    /// Event-log lines scrolled back from the newest (0 = follow the tail).
    pub log_scroll: usize,
    /// The help popup is open.
    pub help: bool,
    /// The user asked to quit.
    pub quit: bool,
}

impl App {
    /// A model showing `snapshot`.
    pub fn new(snapshot: Arc<Snapshot>) -> App {
        App { snapshot, ..App::default() }
    }

    /// Show a newer snapshot, keeping the selection on a node that exists.
    pub fn update(&mut self, snapshot: Arc<Snapshot>) {
        self.snapshot = snapshot;
        self.selected = self.selected.min(self.snapshot.nodes.len().saturating_sub(1));
        self.log_scroll = self.log_scroll.min(self.snapshot.log.len().saturating_sub(1));
    }

    /// The selected node's name, if there are nodes.
    pub fn selected_node(&self) -> Option<&str> {
        self.snapshot.nodes.get(self.selected).map(|n| n.name.as_str())
    }

    /// Apply one key; returns what the orchestrator must do, if anything.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Command> {
        // Terminals that report releases (Windows, kitty protocol) would act twice.
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => self.quit(),
            KeyCode::Esc if self.help => {
                self.help = false;
                None
            }
            KeyCode::Char('q') | KeyCode::Esc => self.quit(),
            KeyCode::Char('?') => {
                self.help = !self.help;
                None
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected = self.selected.saturating_sub(1);
                None
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.snapshot.nodes.len().saturating_sub(1));
                None
            }
            KeyCode::PageUp => {
                self.log_scroll = (self.log_scroll + 5).min(self.snapshot.log.len().saturating_sub(1));
                None
            }
            KeyCode::PageDown => {
                self.log_scroll = self.log_scroll.saturating_sub(5);
                None
            }
            KeyCode::End => {
                self.log_scroll = 0;
                None
            }
            KeyCode::Char('h') => Some(Command::HealAll),
            KeyCode::Char(' ') => Some(Command::TogglePause),
            KeyCode::Char(c) => self.fault_key(c).map(Command::Inject),
            _ => None,
        }
    }

    fn quit(&mut self) -> Option<Command> {
        self.quit = true;
        Some(Command::Quit)
    }

    /// The fault a letter key injects on the selected node.
    fn fault_key(&self, key: char) -> Option<FaultSpec> {
        let node = self.selected_node()?.to_string();
        let on_node = |kind: SpecKind, for_: Option<Duration>| FaultSpec {
            kind,
            target: Some(TargetSpec::Node(node.clone())),
            for_: for_.map(Dur),
            ..FaultSpec::default()
        };
        let spec = match key {
            'c' => on_node(SpecKind::Crash, None),
            'C' => on_node(SpecKind::Crash, Some(SHORT)),
            'p' => on_node(SpecKind::Pause, Some(SHORT)),
            'r' => on_node(SpecKind::Restart, None),
            'o' => FaultSpec {
                direction: Some(Direction::Both),
                probability: Some(0.3),
                ..on_node(SpecKind::Omission, Some(LONG))
            },
            'd' => FaultSpec {
                distribution: Some(DelayLaw::Fixed),
                delay: Some(Dur(Duration::from_millis(20))),
                ..on_node(SpecKind::Delay, Some(LONG))
            },
            'b' => FaultSpec {
                mode: Some(ByzantineSpecMode::Corrupt),
                ..on_node(SpecKind::Byzantine, Some(LONG))
            },
            'B' => FaultSpec {
                mode: Some(ByzantineSpecMode::Collude),
                ..on_node(SpecKind::Byzantine, Some(LONG))
            },
            // The node alone is cut off: the fault is on it, not on everyone.
            'x' => on_node(SpecKind::Isolate, Some(LONG)),
            _ => return None,
        };
        Some(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::NodeView;

    fn app() -> App {
        let nodes = ["replica-1", "replica-2", "replica-3", "voter-1", "client-1"]
            .iter()
            .map(|n| NodeView {
                name: n.to_string(),
                role: n.split('-').next().unwrap().into(),
                ..NodeView::default()
            })
            .collect();
        let log =
            (0..20).map(|i| crate::snapshot::LogLine { t: i as f64, text: format!("event {i}") }).collect();
        App::new(Arc::new(Snapshot { nodes, log, ..Snapshot::default() }))
    }

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn ch(c: char) -> KeyEvent {
        key(KeyCode::Char(c))
    }

    fn injected(cmd: Option<Command>) -> FaultSpec {
        match cmd {
            Some(Command::Inject(spec)) => spec,
            other => panic!("expected an injection, got {other:?}"),
        }
    }

    fn target(name: &str) -> Option<TargetSpec> {
        Some(TargetSpec::Node(name.into()))
    }

    #[test]
    fn select_replica_2_then_c_crashes_it_permanently() {
        let mut app = app();
        assert_eq!(app.on_key(key(KeyCode::Down)), None);
        assert_eq!(app.selected_node(), Some("replica-2"));
        let spec = injected(app.on_key(ch('c')));
        assert_eq!(spec.kind, SpecKind::Crash);
        assert_eq!(spec.target, target("replica-2"));
        assert_eq!(spec.for_, None, "c is permanent until healed");
        assert_eq!(spec.at, None, "the orchestrator starts it now");
    }

    #[test]
    fn selection_moves_with_jk_and_stays_in_range() {
        let mut app = app();
        app.on_key(ch('k'));
        assert_eq!(app.selected, 0);
        for _ in 0..10 {
            app.on_key(ch('j'));
        }
        assert_eq!(app.selected_node(), Some("client-1"));
        app.on_key(key(KeyCode::Up));
        assert_eq!(app.selected_node(), Some("voter-1"));
        // A snapshot with fewer nodes pulls the selection back in range.
        let mut fewer = (*app.snapshot).clone();
        fewer.nodes.truncate(2);
        app.update(Arc::new(fewer));
        assert_eq!(app.selected_node(), Some("replica-2"));
    }

    #[test]
    fn timed_faults_carry_their_duration_and_parameters() {
        let mut app = app();
        let secs = |spec: &FaultSpec| spec.for_.map(|d| d.0.as_secs());
        let spec = injected(app.on_key(ch('C')));
        assert_eq!((spec.kind, secs(&spec)), (SpecKind::Crash, Some(5)));
        let spec = injected(app.on_key(ch('p')));
        assert_eq!((spec.kind, secs(&spec)), (SpecKind::Pause, Some(5)));
        let spec = injected(app.on_key(ch('r')));
        assert_eq!((spec.kind, secs(&spec)), (SpecKind::Restart, None));
        let spec = injected(app.on_key(ch('o')));
        assert_eq!((spec.kind, secs(&spec)), (SpecKind::Omission, Some(10)));
        assert_eq!((spec.direction, spec.probability), (Some(Direction::Both), Some(0.3)));
        let spec = injected(app.on_key(ch('d')));
        assert_eq!((spec.kind, secs(&spec)), (SpecKind::Delay, Some(10)));
        assert_eq!(spec.distribution, Some(DelayLaw::Fixed));
        assert_eq!(spec.delay, Some(Dur(Duration::from_millis(20))));
        let spec = injected(app.on_key(ch('b')));
        assert_eq!((spec.kind, spec.mode), (SpecKind::Byzantine, Some(ByzantineSpecMode::Corrupt)));
        let spec = injected(app.on_key(ch('B')));
        assert_eq!((spec.mode, secs(&spec)), (Some(ByzantineSpecMode::Collude), Some(10)));
        assert_eq!(spec.target, target("replica-1"));
    }

    #[test]
    fn x_isolates_the_selected_node_alone() {
        let mut app = app();
        app.on_key(ch('j'));
        app.on_key(ch('j'));
        let spec = injected(app.on_key(ch('x')));
        assert_eq!(spec.kind, SpecKind::Isolate);
        assert_eq!(spec.target, target("replica-3"));
        assert_eq!(spec.groups, None, "no partition of the whole cluster");
        assert_eq!(spec.for_.map(|d| d.0.as_secs()), Some(10));
    }

    #[test]
    fn heal_pause_and_quit_keys() {
        let mut app = app();
        assert_eq!(app.on_key(ch('h')), Some(Command::HealAll));
        assert_eq!(app.on_key(ch(' ')), Some(Command::TogglePause));
        assert!(!app.quit);
        assert_eq!(app.on_key(ch('q')), Some(Command::Quit));
        assert!(app.quit);
        let mut app = self::app();
        assert_eq!(app.on_key(key(KeyCode::Esc)), Some(Command::Quit));
        let mut app = self::app();
        // Ctrl-C quits; it must not crash the selected node.
        assert_eq!(app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)), Some(Command::Quit));
    }

    #[test]
    fn question_mark_toggles_help_without_a_command() {
        let mut app = app();
        assert_eq!(app.on_key(ch('?')), None);
        assert!(app.help);
        // Esc closes the help rather than quitting.
        assert_eq!(app.on_key(key(KeyCode::Esc)), None);
        assert!(!app.help && !app.quit);
        app.on_key(ch('?'));
        assert_eq!(app.on_key(ch('?')), None);
        assert!(!app.help);
    }

    #[test]
    fn releases_unknown_keys_and_empty_clusters_do_nothing() {
        let mut app = app();
        let mut release = ch('c');
        release.kind = KeyEventKind::Release;
        assert_eq!(app.on_key(release), None);
        assert_eq!(app.on_key(ch('z')), None);
        let mut empty = App::default();
        assert_eq!(empty.on_key(ch('c')), None);
        assert_eq!(empty.on_key(ch('x')), None);
        assert_eq!(empty.on_key(ch('j')), None);
    }

    #[test]
    fn page_keys_scroll_the_log_within_bounds() {
        let mut app = app();
        app.on_key(key(KeyCode::PageUp));
        assert_eq!(app.log_scroll, 5);
        for _ in 0..10 {
            app.on_key(key(KeyCode::PageUp));
        }
        assert_eq!(app.log_scroll, 19);
        app.on_key(key(KeyCode::PageDown));
        assert_eq!(app.log_scroll, 14);
        app.on_key(key(KeyCode::End));
        assert_eq!(app.log_scroll, 0);
    }
}
