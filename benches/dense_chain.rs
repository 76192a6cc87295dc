//! The DQN gradient step's arithmetic on the host dense chain (`runtime::fused::chain`): the
//! online training forward, the target forward and the backward pass for a batch of 64 through
//! the 4-120-84-2 Q network of SPEC §9's DQN workload, on one thread and split with the fork's
//! helper thread (`runtime::fused::fork`), plus the 10-row acting forward.
//!
//! `cargo bench --bench dense_chain`.

use std::hint::black_box;
use std::time::Duration;

use burn::nn::{Linear, LinearConfig};
use burn::tensor::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use memoraxc::runtime::fused::chain::DenseChain;
use memoraxc::runtime::fused::fork::Fork;

const ROWS: usize = 64;

fn chain(dev: &Device) -> DenseChain {
    let layers: Vec<(Linear, &str)> = [(4, 120, "relu"), (120, 84, "relu"), (84, 2, "identity")]
        .iter()
        .map(|&(i, o, act)| (LinearConfig::new(i, o).init(dev), act))
        .collect();
    let named: Vec<(&Linear, &str)> = layers.iter().map(|(l, a)| (l, *a)).collect();
    DenseChain::new(&named).expect("plain Flex parameters")
}

fn step(online: &DenseChain, target: &DenseChain, x: &[f32], fork: Option<&Fork>) -> usize {
    let next = || target.forward(x.to_vec(), ROWS);
    let train = || online.train_forward(x.to_vec(), ROWS);
    let (tq, (q, tape)) = match fork {
        Some(f) => f.join(next, train),
        None => (next(), train()),
    };
    let dq: Vec<f32> = q.iter().zip(&tq).map(|(a, b)| a - b).collect();
    online.backward(tape, dq, fork).len()
}

fn bench(c: &mut Criterion) {
    let dev = Device::flex();
    let (online, target) = (chain(&dev), chain(&dev));
    let x: Vec<f32> = (0..ROWS * 4)
        .map(|i| ((i * 7) % 13) as f32 / 6.0 - 1.0)
        .collect();
    let fork = Fork::new();
    let mut group = c.benchmark_group("dqn_chain");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("step/one_thread", |b| {
        b.iter(|| black_box(step(&online, &target, &x, None)))
    });
    if let Some(f) = &fork {
        group.bench_function("step/fork", |b| {
            b.iter(|| black_box(step(&online, &target, &x, Some(f))))
        });
    }
    group.bench_function("act_forward_10_rows", |b| {
        b.iter(|| black_box(online.forward(x[..40].to_vec(), 10)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
