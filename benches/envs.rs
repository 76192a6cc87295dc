//! Environment-only throughput: vector steps with pre-drawn uniform random actions, at 1 and
//! 64 parallel environments on one thread. Reported as environment steps per second
//! (`elements/s`). Run: `cargo bench --bench envs`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use memoraxc::check::ir::ActionSpace;
use memoraxc::envs::rng::Rng;
use memoraxc::envs::{self, Actions, StepBatch};

const IDS: [&str; 9] = [
    "gymnax::CartPole-v1",
    "popgym::RepeatPreviousEasy",
    "popgym::CountRecallEasy",
    "popgym::AutoencodeEasy",
    "popgym::PositionOnlyCartPoleEasy",
    "popgym::NoisyPositionOnlyPendulumEasy",
    "popgym::BattleshipEasy",
    "popgym::ConcentrationEasy",
    "popgym::MineSweeperEasy",
];
const STEPS: usize = 1_000;

fn action_bank(space: &ActionSpace, n: usize) -> Vec<Actions> {
    let mut rng = Rng::new(0);
    (0..64)
        .map(|_| match space {
            ActionSpace::Discrete(k) => {
                Actions::Discrete((0..n).map(|_| rng.below(*k as u32)).collect())
            }
            ActionSpace::Box { dim, low, high } => Actions::Continuous(
                (0..n * dim)
                    .map(|j| rng.uniform_f32(low[j % dim], high[j % dim]))
                    .collect(),
            ),
        })
        .collect()
}

fn bench_envs(c: &mut Criterion) {
    let mut group = c.benchmark_group("env_steps");
    for id in IDS {
        for n in [1usize, 64] {
            let mut env = envs::make(id, n).expect("known id");
            let info = env.info().clone();
            let bank = action_bank(&info.action, n);
            let mut out = StepBatch::new(n, info.obs_dim);
            env.reset(0, &mut out);
            group.throughput(Throughput::Elements((n * STEPS) as u64));
            group.bench_function(BenchmarkId::new(id, n), |b| {
                b.iter(|| {
                    for t in 0..STEPS {
                        env.step(&bank[t % bank.len()], &mut out);
                    }
                    black_box(out.reward[0])
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_secs(1));
    targets = bench_envs
}
criterion_main!(benches);
