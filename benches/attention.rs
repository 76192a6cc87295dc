//! Fused window attention in PPO-GTrXL's training shape vs burn ops with a dense bias, on the
//! Flex CPU backend.
//!
//! One call as a GTrXL layer makes it on a minibatch: 128 queries of 2 sequences, width 64 in 4
//! heads, ALiBi, keys as three parts (192 segment-memory rows, a 128-step cache without gradient,
//! the 128 new steps time-major); each query sees 64 memory rows and the last 129 steps. Forward
//! on the plain device, and forward + backward of `Σ y ⊙ w` on the autodiff device.
//!
//! `cargo bench --bench attention` (set `CARGO_TARGET_DIR` as usual).

use std::hint::black_box;
use std::time::Duration;

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use criterion::{Criterion, criterion_group, criterion_main};
use memoraxc::runtime::fused::attention::{
    KvLayout, KvPart, Windows, attention, attention_reference,
};

const T: usize = 128;
const B: usize = 2;
const F: usize = 64;
const H: usize = 4;
const MEM: usize = 64;
const CTX: usize = 128;
/// Memory rows in the carry (`C + M`).
const ROWS: usize = CTX + MEM;

/// GTrXL's windows: query `i` sees memory rows `[i, i + M)` and cache + new slots `[i, C + i]`.
fn windows() -> Windows {
    let l = ROWS + CTX + T;
    let ranges = (0..B * T)
        .map(|x| {
            let i = x % T;
            [(i, i + MEM), (ROWS + i, ROWS + CTX + i + 1)]
        })
        .collect();
    let mut kpos: Vec<f32> = (0..ROWS).map(|j| j as f32).collect();
    kpos.extend((0..CTX + T).map(|j| (MEM + j) as f32));
    Windows {
        b: B,
        t: T,
        l,
        ranges,
        slopes: (0..H)
            .map(|hi| 2f32.powi(-8 * (hi as i32 + 1) / H as i32))
            .collect(),
        qpos: (0..T).map(|i| (MEM + CTX + i) as f32).collect(),
        kpos,
    }
}

/// Queries, the three key parts and the output weights on `dev` (leaves tracked if `track`).
struct Call {
    q: Tensor<3>,
    parts: Vec<KvPart>,
    w: Tensor<3>,
}

impl Call {
    fn new(dev: &Device, track: bool) -> Call {
        let r = |s: [usize; 3], grad: bool| {
            let x = Tensor::<3>::random(s, Distribution::Normal(0.0, 1.0), dev);
            if grad && track { x.require_grad() } else { x }
        };
        let part = |s: [usize; 3], layout, grad| KvPart {
            k: r(s, grad),
            v: r(s, grad),
            layout,
        };
        Call {
            q: r([T, B, F], true),
            parts: vec![
                part([B, ROWS, F], KvLayout::BatchMajor, true),
                part([B, CTX, F], KvLayout::BatchMajor, false),
                part([T, B, F], KvLayout::TimeMajor, true),
            ],
            w: r([T, B, F], false),
        }
    }

    fn fused(&self) -> Tensor<3> {
        attention(self.q.clone(), self.parts.clone(), windows())
    }

    fn reference(&self) -> Tensor<3> {
        let w = windows();
        let dev = self.q.device();
        let bias = Tensor::<4>::from_data(TensorData::new(w.dense_bias(), [B, H, T, w.l]), &dev);
        let (ks, vs): (Vec<_>, Vec<_>) =
            self.parts.iter().cloned().map(KvPart::batch_major).unzip();
        let (k, v) = (Tensor::cat(ks, 1), Tensor::cat(vs, 1));
        attention_reference(self.q.clone().swap_dims(0, 1), k, v, bias).swap_dims(0, 1)
    }
}

fn bench(c: &mut Criterion) {
    let ad = Device::flex().autodiff();
    let plain = Device::flex();
    ad.seed(7);
    let (train, infer) = (Call::new(&ad, true), Call::new(&plain, false));
    let mut group = c.benchmark_group(format!("attention_gtrxl_t{T}_b{B}_f{F}_h{H}"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, fused) in [("fused", true), ("reference", false)] {
        let run = |call: &Call| {
            if fused {
                call.fused()
            } else {
                call.reference()
            }
        };
        group.bench_function(format!("train_step/{name}"), |bch| {
            bch.iter(|| {
                let grads = (run(&train) * train.w.clone()).sum().backward();
                black_box(train.q.grad(&grads));
            })
        });
        group.bench_function(format!("forward_inference/{name}"), |bch| {
            bch.iter(|| black_box(run(&infer).into_data()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
