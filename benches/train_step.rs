//! One training step (forward, loss, backward, Adam update) of the lowered blocks that dominate
//! training time, on the Flex CPU backend with autodiff:
//! - `mlp`: MLP 4 → 64 → 64 → 2 on a batch of 64 (the DQN/PPO CartPole network body);
//! - `gru`: GRU(64) over T = 128, B = 8 (fused whole-sequence op) with resets inside;
//! - `mingru`: MinGRU(64), same shape (fused linear scan);
//! - `gtrxl_layer`: one GTrXL layer (gated residual pre-norm segment-recurrent ALiBi attention,
//!   4 heads, ctx 128, memory 64, then a gated FFN), width 64, T = 128, B = 8.
//!
//! `cargo bench --bench train_step`.

use std::hint::black_box;
use std::time::Duration;

use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use criterion::{Criterion, criterion_group, criterion_main};
use memoraxc::algorithms::common::Optim;
use memoraxc::check::ir::{Args, Block};
use memoraxc::lower::ir_builder as ib;
use memoraxc::lower::lower_block;
use memoraxc::runtime::layer::{Ctx, Layer};

const T: usize = 128;
const B: usize = 8;

fn starts(t: usize, b: usize, dev: &Device) -> Tensor<2> {
    let v: Vec<f32> = (0..t * b)
        .map(|i| if i < b || i % 197 == 5 { 1.0 } else { 0.0 })
        .collect();
    Tensor::from_data(TensorData::new(v, [t, b]), dev)
}

fn step_bench(c: &mut Criterion, name: &str, block: Block, shape: [usize; 3]) {
    let dev = Device::flex().autodiff();
    dev.seed(3);
    let block = ib::with_paths(block, "torso");
    let (layer, shared) = lower_block(&block, &dev).expect("lowers");
    let mut layer: Option<Layer> = Some(layer);
    let mut optim = Optim::new("adam", &Args::default());
    let x = Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), &dev);
    let start = starts(shape[0], shape[1], &dev);
    let mut group = c.benchmark_group("train_step");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.bench_function(name, |bch| {
        bch.iter(|| {
            let l = layer.take().expect("layer");
            let ctx = Ctx::new(&shared);
            let carry = l.init_carry(shape[1], &dev, &ctx);
            let (y, _) = l.forward(x.clone(), &start, carry, &ctx);
            let loss = y.powf_scalar(2.0).mean();
            let (l, _norm) = optim.step(l, loss, 0.0);
            layer = Some(l);
        })
    });
    group.finish();
    black_box(layer);
}

fn bench(c: &mut Criterion) {
    step_bench(
        c,
        "mlp_4_64_64_2_b64",
        ib::mlp(4, &[64, 64, 2], "relu"),
        [1, 64, 4],
    );
    step_bench(c, "gru_h64_t128_b8", ib::gru(64, 64), [T, B, 64]);
    step_bench(c, "mingru_h64_t128_b8", ib::mingru(64, 64), [T, B, 64]);
    let attn = ib::segment_recurrence(ib::attention(64, 4, 128, "alibi"), 64);
    let layer = ib::seq(vec![
        ib::gated_residual(ib::prenorm(attn)),
        ib::gated_residual(ib::prenorm(ib::ffn(64, 4))),
    ]);
    step_bench(c, "gtrxl_layer_w64_t128_b8", layer, [T, B, 64]);
}

criterion_group!(benches, bench);
criterion_main!(benches);
