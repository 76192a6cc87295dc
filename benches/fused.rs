//! Fused whole-sequence GRU/LSTM vs the per-step reference on the Flex CPU backend.
//!
//! One training step without the optimizer: input projection `gx = x·W_x + b_x`, the recurrent
//! sequence, `loss = Σ hs`, `loss.backward()`. Shapes: input width 64, H = 64, B = 8, T = 128, with
//! a few episode resets inside the sequence. Also the forward alone on the plain (inference) device.
//!
//! `cargo bench --bench fused` (set `CARGO_TARGET_DIR` as usual).

use std::hint::black_box;
use std::time::Duration;

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use criterion::{Criterion, criterion_group, criterion_main};
use memoraxc::runtime::fused::{
    gru_sequence, gru_sequence_reference, lstm_sequence, lstm_sequence_reference,
};

const T: usize = 128;
const B: usize = 8;
const IN: usize = 64;
const H: usize = 64;

/// Parameters and data of one layer with `gates` gates per unit.
struct Layer {
    x: Tensor<2>,
    wx: Tensor<2>,
    bx: Tensor<1>,
    wh: Tensor<2>,
    bh: Tensor<1>,
    h0: Tensor<2>,
    reset: Tensor<2>,
}

impl Layer {
    fn new(gates: usize, dev: &Device, track: bool) -> Layer {
        let g = gates * H;
        let param = |t: Tensor<2>| if track { t.require_grad() } else { t };
        let u = Distribution::Uniform(-0.2, 0.2);
        let bias = |dev: &Device| {
            let b = Tensor::<1>::random([g], u, dev);
            if track { b.require_grad() } else { b }
        };
        let reset: Vec<f32> = (0..T * B)
            .map(|i| if i % 197 == 5 { 1.0 } else { 0.0 })
            .collect();
        Layer {
            x: Tensor::random([T * B, IN], Distribution::Uniform(-1.0, 1.0), dev),
            wx: param(Tensor::random([IN, g], u, dev)),
            bx: bias(dev),
            wh: param(Tensor::random([H, g], u, dev)),
            bh: bias(dev),
            h0: Tensor::zeros([B, H], dev),
            reset: Tensor::from_data(TensorData::new(reset, [T, B]), dev),
        }
    }

    fn gx(&self) -> Tensor<3> {
        let g = self.wx.dims()[1];
        (self.x.clone().matmul(self.wx.clone()) + self.bx.clone().unsqueeze::<2>())
            .reshape([T, B, g])
    }

    fn gru(&self, fused: bool) -> Tensor<3> {
        let f = if fused {
            gru_sequence
        } else {
            gru_sequence_reference
        };
        f(
            self.gx(),
            self.wh.clone(),
            self.bh.clone(),
            self.h0.clone(),
            self.reset.clone(),
        )
    }

    fn lstm(&self, fused: bool) -> Tensor<3> {
        let f = if fused {
            lstm_sequence
        } else {
            lstm_sequence_reference
        };
        let (hs, _cs) = f(
            self.gx(),
            self.wh.clone(),
            self.bh.clone(),
            self.h0.clone(),
            self.h0.clone(),
            self.reset.clone(),
        );
        hs
    }
}

fn bench(c: &mut Criterion) {
    let ad = Device::flex().autodiff();
    let plain = Device::flex();
    ad.seed(7);
    for (cell, gates) in [("gru", 3), ("lstm", 4)] {
        let train = Layer::new(gates, &ad, true);
        let infer = Layer::new(gates, &plain, false);
        let run = move |l: &Layer, fused: bool| match cell {
            "gru" => l.gru(fused),
            _ => l.lstm(fused),
        };
        let mut group = c.benchmark_group(format!("{cell}_h{H}_b{B}_t{T}"));
        group
            .sample_size(20)
            .warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        for (name, fused) in [("fused", true), ("reference", false)] {
            group.bench_function(format!("train_step/{name}"), |bch| {
                bch.iter(|| {
                    let grads = run(&train, fused).sum().backward();
                    black_box(train.wh.grad(&grads));
                })
            });
            group.bench_function(format!("forward_inference/{name}"), |bch| {
                bch.iter(|| black_box(run(&infer, fused).into_data()))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
