//! What the interposer costs per message: with no fault installed (the common
//! case, on every message of every run) and with omission plus delay.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use faults::{DelayDistribution, Direction, FaultId, Interposer, LinkScope, MessageFault};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use workloads::{Message, NodeId, Time};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Msg(u64, i64);

impl Message for Msg {
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        self.1 = self.1.wrapping_add(1 + (rng.next_u64() >> 1) as i64);
        true
    }
    fn collude(&mut self, key: u64) -> bool {
        self.1 ^= key as i64;
        true
    }
}

fn bench(c: &mut Criterion) {
    let mut clean = Interposer::new(NodeId(0), 7);
    let mut t = 0u64;
    c.bench_function("on_send, no fault", |b| {
        b.iter(|| {
            t += 1_000;
            black_box(clean.on_send(Time::from_nanos(t), NodeId(1), Msg(t, 5)))
        })
    });
    let mut faulty = Interposer::new(NodeId(0), 7);
    faulty.install(
        FaultId(1),
        MessageFault::Omission { direction: Direction::Both, probability: 0.1, links: LinkScope::All },
    );
    faulty.install(
        FaultId(2),
        MessageFault::Delay {
            distribution: DelayDistribution::Uniform {
                min: Duration::from_micros(100),
                max: Duration::from_millis(2),
            },
            reorder: false,
            links: LinkScope::All,
        },
    );
    c.bench_function("on_send, omission 10% + uniform delay", |b| {
        b.iter(|| {
            t += 1_000;
            black_box(faulty.on_send(Time::from_nanos(t), NodeId(1 + (t % 3) as u16), Msg(t, 5)))
        })
    });
    c.bench_function("receive, omission 10%", |b| {
        b.iter(|| {
            t += 1_000;
            black_box(faulty.receive(Time::from_nanos(t), NodeId(1)))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
