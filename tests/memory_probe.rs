//! Memory probe: every memory block, between a linear input and a linear readout, learns to
//! report the bit shown at the start of the current episode (POPGym's RepeatFirst; the input is
//! the current bit and an episode-start flag) far above the memoryless ceiling, within a CI-sized
//! budget. A block with a broken reset (the previous episode's cue leaks in), a broken carry or
//! broken gradients cannot do this. The task is supervised (its targets are known), so it runs in
//! seconds per block.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use memoraxc::algorithms::common::Optim;
use memoraxc::check::ir::{Args, Block, Value};
use memoraxc::lower::ir_builder as b;
use memoraxc::lower::lower_block;
use memoraxc::runtime::layer::{Ctx, Layer};

const T: usize = 12;
const B: usize = 32;
const W: usize = 16;

/// Inputs `[bit one-hot, start]`, start flags and targets (the episode's first bit), from an LCG.
fn batch(seed: u64) -> (Vec<f32>, Vec<f32>, Vec<i64>) {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    let (mut x, mut st, mut y) = (vec![0.0; T * B * 3], vec![0.0; T * B], vec![0i64; T * B]);
    let mut first = [0u32; B];
    for t in 0..T {
        for (i, first) in first.iter_mut().enumerate() {
            let bit = next() % 2;
            let start = t == 0 || next() % 100 < 15;
            if start {
                *first = bit;
            }
            let k = t * B + i;
            x[k * 3 + bit as usize] = 1.0;
            x[k * 3 + 2] = if start { 1.0 } else { 0.0 };
            st[k] = x[k * 3 + 2];
            y[k] = i64::from(*first);
        }
    }
    (x, st, y)
}

/// The best accuracy a memoryless predictor can reach on `batch` (it sees only the current
/// input): per input, the most frequent target.
fn memoryless_ceiling(seed: u64) -> f64 {
    let (x, _, y) = batch(seed);
    let mut counts = [[0usize; 2]; 4];
    for k in 0..T * B {
        let input = usize::from(x[k * 3 + 1] > 0.5) + 2 * usize::from(x[k * 3 + 2] > 0.5);
        counts[input][y[k] as usize] += 1;
    }
    let best: usize = counts.iter().map(|c| *c.iter().max().unwrap()).sum();
    best as f64 / (T * B) as f64
}

struct Data {
    x: Tensor<3>,
    s: Tensor<2>,
    y: Vec<i64>,
}

fn data(seed: u64, dev: &Device) -> Data {
    let (x, s, y) = batch(seed);
    Data {
        x: Tensor::from_data(TensorData::new(x, [T, B, 3]), dev),
        s: Tensor::from_data(TensorData::new(s, [T, B]), dev),
        y,
    }
}

fn logits(model: &Layer, shared: &[Layer], d: &Data, dev: &Device) -> Tensor<3> {
    let ctx = Ctx::new(shared);
    let c = model.init_carry(B, dev, &ctx);
    model.forward(d.x.clone(), &d.s, c, &ctx).0
}

fn accuracy(model: &Layer, shared: &[Layer], d: &Data, dev: &Device) -> f64 {
    let out: Vec<f32> = logits(model, shared, d, dev)
        .into_data()
        .convert::<f32>()
        .try_to_vec()
        .unwrap();
    let hits = out
        .chunks(2)
        .zip(&d.y)
        .filter(|(row, y)| {
            let arg = (0..2).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            arg as i64 == **y
        })
        .count();
    hits as f64 / d.y.len() as f64
}

/// Train `linear(3 → W) → relu → block → linear(→ 2)`; returns the eval accuracy reached. The
/// nonlinear input lets linear recurrences (lru, s5) store `start ∧ bit`.
fn probe(name: &str, block: Block) -> f64 {
    let net = b::with_paths(
        b::seq(vec![
            b::linear(3, W),
            b::act("relu", W),
            block.clone(),
            b::linear(block.output, 2),
        ]),
        "probe",
    );
    let dev = Device::flex().autodiff();
    dev.seed(11);
    let (mut model, shared) = lower_block(&net, &dev).expect("lowers");
    let lr = Args(vec![("lr".into(), Value::Float(1e-2))]);
    let mut optim = Optim::new("adam", &lr);
    let plain = dev.clone().inner();
    let eval = data(999, &plain);
    let mut acc = 0.0;
    for step in 0..400u64 {
        let d = data(step, &dev);
        let lsm = log_softmax(logits(&model, &shared, &d, &dev), 2);
        let idx = Tensor::<3, Int>::from_data(TensorData::new(d.y.clone(), [T, B, 1]), &dev);
        let loss: Tensor<1> = lsm.gather(2, idx).mean().neg();
        model = optim.step(model, loss, 0.0).0;
        if step % 25 == 24 {
            let valid = model.clone().fork(&plain);
            let sh: Vec<Layer> = shared.iter().map(|l| l.clone().fork(&plain)).collect();
            acc = accuracy(&valid, &sh, &eval, &plain);
            if acc >= 0.95 {
                break;
            }
        }
    }
    eprintln!("{name}: accuracy {acc:.3}");
    acc
}

#[test]
fn every_memory_block_beats_the_memoryless_ceiling() {
    let ceiling = memoryless_ceiling(999);
    assert!(ceiling < 0.7, "the probe needs memory (ceiling {ceiling})");
    let probes: Vec<(&str, Block)> = vec![
        ("gru", b::gru(W, W)),
        ("lstm", b::lstm(W, W)),
        ("mingru", b::mingru(W, W)),
        // token mixers are used inside a residual stream (as in every transformer)
        ("attention", b::residual(b::attention(W, 2, 16, "alibi"))),
        (
            "segment_recurrence",
            b::residual(b::segment_recurrence(b::attention(W, 2, 4, "rope"), 4)),
        ),
        (
            "linear_attention",
            b::residual(b::linear_attention(W, 2, 8)),
        ),
        ("lru", b::lru(W, W)),
        ("s5", b::s5(W, W, "zoh")),
        ("ffm", b::ffm(W, 8, 4)),
        ("mamba", b::mamba(W, 2, 8, 8, 4)),
        ("slstm", b::slstm(W, W, 2, 4)),
        ("mlstm", b::mlstm(W, W, 2, 4)),
        ("shm", b::residual(b::shm(W, W, 16))),
        ("rtu", b::rtu(W, W)),
        ("rtrl(lru)", b::rtrl(b::lru(W, W))),
        ("rtrl(rtu)", b::rtrl(b::rtu(W, W))),
        ("moe", b::moe(b::gru(W, W), 2, 1, 0.01)),
    ];
    let mut failed = Vec::new();
    for (name, blk) in probes {
        let acc = probe(name, blk);
        if acc < 0.9 || acc < ceiling + 0.2 {
            failed.push(format!("{name}: {acc:.3}"));
        }
    }
    assert!(
        failed.is_empty(),
        "blocks below 0.9 accuracy (memoryless ceiling {ceiling:.3}): {failed:?}"
    );
}
