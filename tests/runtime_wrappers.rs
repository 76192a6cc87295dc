//! Wrappers beyond the core contract: `moe` (mixture of memory experts with a router loss),
//! `rl2` (memory reset at trial, not episode, boundaries) and the previous-step input embeddings.

mod common;

use burn::prelude::*;
use burn::tensor::Distribution;
use common::{carry_diff, contract, max_diff};
use memoraxc::lower::ir_builder as b;
use memoraxc::lower::lower_block;
use memoraxc::runtime::layer::Ctx;

fn flags(v: &[f32], t: usize, n: usize, dev: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v.to_vec(), [t, n]), dev)
}

#[test]
fn moe_of_memory_experts_passes_the_contract() {
    let _guard = common::serial();
    // dense mixture (top_k = experts) is smooth, so finite differences apply
    contract(b::moe(b::gru(4, 4), 3, 3, 0.01), 1e-5);
    contract(
        b::moe(b::seq(vec![b::lstm(4, 5), b::linear(5, 4)]), 2, 2, 0.0),
        1e-5,
    );
}

#[test]
fn moe_top_k_mixes_exactly_k_experts_and_reports_a_balance_loss() {
    let _guard = common::serial();
    let dev = Device::flex();
    dev.seed(5);
    let blk = b::with_paths(b::moe(b::linear(6, 3), 4, 2, 0.5), "t");
    let (layer, shared) = lower_block(&blk, &dev).unwrap();
    let memoraxc::runtime::layer::Layer::Moe(m) = &layer else {
        panic!("lowered to {layer:?}")
    };
    let x = Tensor::<3>::random([5, 3, 6], Distribution::Normal(0.0, 1.0), &dev);
    let (gates, probs) = m.gates(x.clone());
    let g: Vec<f32> = gates.into_data().convert::<f32>().try_to_vec().unwrap();
    for row in g.chunks(4) {
        assert_eq!(
            row.iter().filter(|&&v| v > 0.0).count(),
            2,
            "top-2 of {row:?}"
        );
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "renormalised");
    }
    // the output is the gate-weighted sum of the experts' outputs
    let ctx = Ctx::new(&shared);
    let s = Tensor::<2>::zeros([5, 3], &dev);
    let c = layer.init_carry(3, &dev, &ctx);
    let (y, _) = layer.forward(x.clone(), &s, c, &ctx);
    let (gates, _) = m.gates(x.clone());
    let mut expect = Tensor::<3>::zeros([5, 3, 3], &dev);
    for (i, e) in m.experts.iter().enumerate() {
        let (ye, _) = e.forward(x.clone(), &s, memoraxc::runtime::carry::Carry::Unit, &ctx);
        expect = expect + ye * gates.clone().narrow(2, i, 1);
    }
    assert!(max_diff(y, expect) < 1e-5);
    // the balance loss: 0.5 · E · Σ f_e P_e, with f_e the share of top-2 slots of expert e
    let aux = ctx.aux.borrow();
    assert_eq!(aux.len(), 1, "one loss per forward");
    let p: Vec<f32> = probs.into_data().convert::<f32>().try_to_vec().unwrap();
    let (mut f, mut pm) = ([0.0f64; 4], [0.0f64; 4]);
    for (row, pr) in g.chunks(4).zip(p.chunks(4)) {
        for e in 0..4 {
            f[e] += f64::from(u8::from(row[e] > 0.0)) / 15.0 / 2.0;
            pm[e] += f64::from(pr[e]) / 15.0;
        }
    }
    let want: f64 = 0.5 * 4.0 * (0..4).map(|e| f[e] * pm[e]).sum::<f64>();
    let got = f64::from(aux[0].clone().into_scalar::<f32>());
    assert!((got - want).abs() < 1e-5, "balance loss {got} vs {want}");
}

#[test]
fn moe_balance_loss_reaches_the_router() {
    let _guard = common::serial();
    let dev = Device::flex().autodiff();
    dev.seed(2);
    let blk = b::with_paths(b::moe(b::linear(4, 4), 3, 1, 1.0), "t");
    let (layer, shared) = lower_block(&blk, &dev).unwrap();
    let ctx = Ctx::new(&shared);
    let x = Tensor::<3>::random([4, 2, 4], Distribution::Normal(0.0, 1.0), &dev);
    let s = Tensor::<2>::zeros([4, 2], &dev);
    let c = layer.init_carry(2, &dev, &ctx);
    let _ = layer.forward(x, &s, c, &ctx);
    let loss = ctx.aux.borrow()[0].clone();
    let grads = loss.backward();
    let memoraxc::runtime::layer::Layer::Moe(m) = &layer else {
        panic!()
    };
    let g = m.router.weight.grad(&grads).expect("router gradient");
    assert!(g.abs().sum().into_scalar::<f32>() > 0.0);
}

#[test]
fn rl2_resets_memory_at_trial_boundaries_only() {
    let _guard = common::serial();
    let dev = Device::flex();
    dev.seed(9);
    let (t, n, spt) = (10, 2, 4);
    let inner = b::gru(3, 5);
    let blk = b::with_paths(b::rl2(inner.clone(), spt), "t");
    let (layer, shared) = lower_block(&blk, &dev).unwrap();
    let ctx = Ctx::new(&shared);
    let x = Tensor::<3>::random([t, n, 3], Distribution::Normal(0.0, 1.0), &dev);
    // episode starts everywhere: RL² must ignore them
    let episode_starts = flags(&vec![1.0; t * n], t, n, &dev);
    let c0 = layer.init_carry(n, &dev, &ctx);
    assert_eq!(c0.floats_per_env() as u64, blk.carry.floats_per_env());
    let (y, c_full) = layer.forward(x.clone(), &episode_starts, c0.clone(), &ctx);
    // reference: the bare GRU with starts at steps 0, 4, 8
    let memoraxc::runtime::layer::Layer::Rl2(r) = &layer else {
        panic!()
    };
    let trial: Vec<f32> = (0..t * n)
        .map(|i| f32::from(u8::from((i / n) % spt == 0)))
        .collect();
    let gru = &r.inner[0];
    let (want, _) = gru.forward(
        x.clone(),
        &flags(&trial, t, n, &dev),
        gru.init_carry(n, &dev, &ctx),
        &ctx,
    );
    assert!(max_diff(y.clone(), want) < 1e-6);
    // stepwise and chunked agree, counter included
    for chunks in [vec![1; t], vec![3, 3, 4], vec![7, 3]] {
        let (mut c, mut a, mut ys) = (c0.clone(), 0, Vec::new());
        for len in chunks {
            let (yc, c2) = layer.forward(
                x.clone().narrow(0, a, len),
                &episode_starts.clone().narrow(0, a, len),
                c,
                &ctx,
            );
            ys.push(yc);
            c = c2;
            a += len;
        }
        assert!(max_diff(y.clone(), Tensor::cat(ys, 0)) < 1e-5);
        assert!(carry_diff(&c, &c_full) < 1e-5);
    }
    // nothing crosses a trial boundary: perturb steps 0..4, outputs from step 4 on are unchanged
    let noise = Tensor::<3>::random([4, n, 3], Distribution::Normal(0.0, 3.0), &dev);
    let x2 = x.slice_assign([0..4, 0..n, 0..3], noise);
    let (y2, _) = layer.forward(x2, &episode_starts, c0, &ctx);
    let tail = |y: Tensor<3>| y.narrow(0, 4, t - 4);
    assert!(max_diff(tail(y.clone()), tail(y2.clone())) < 1e-6);
    // ...but memory does cross episode starts inside a trial
    assert!(max_diff(y.narrow(0, 1, 3), y2.narrow(0, 1, 3)) > 1e-3);
}

#[test]
fn embeddings_append_the_context_inputs() {
    let _guard = common::serial();
    let dev = Device::flex();
    let blk = b::with_paths(
        b::seq(vec![b::embed_prev(3, Some(2)), b::embed_prev(5, None)]),
        "e",
    );
    let (layer, shared) = lower_block(&blk, &dev).unwrap();
    let x = Tensor::<3>::random([2, 4, 3], Distribution::Normal(0.0, 1.0), &dev);
    let pa = Tensor::<3>::random([2, 4, 2], Distribution::Normal(0.0, 1.0), &dev);
    let pr = Tensor::<3>::random([2, 4, 1], Distribution::Normal(0.0, 1.0), &dev);
    let mut ctx = Ctx::new(&shared);
    ctx.prev_action = Some(pa.clone());
    ctx.prev_reward = Some(pr.clone());
    let s = Tensor::<2>::zeros([2, 4], &dev);
    let c = layer.init_carry(4, &dev, &ctx);
    let (y, _) = layer.forward(x.clone(), &s, c, &ctx);
    assert!(max_diff(y, Tensor::cat(vec![x, pa, pr], 2)) == 0.0);
    contract(b::seq(vec![b::embed_prev(3, Some(4)), b::gru(7, 3)]), 1e-5);
}
