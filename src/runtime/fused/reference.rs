//! Reference implementations: the same maths as the fused ops, written as a per-timestep loop of
//! ordinary burn tensor ops. They run (and differentiate) on any device.

use burn::tensor::Tensor;
use burn::tensor::activation::{sigmoid, tanh};

/// `[B, 1]` keep-mask (`1 − reset[t]`) for step `t` of a `[T, B]` reset tensor.
fn keep_at(reset: &Tensor<2>, t: usize) -> Tensor<2> {
    let b = reset.dims()[1];
    reset
        .clone()
        .narrow(0, t, 1)
        .reshape([b, 1])
        .neg()
        .add_scalar(1.0)
}

/// Step `t` of a `[T, B, G]` tensor as `[B, G]`.
fn step_of(x: &Tensor<3>, t: usize) -> Tensor<2> {
    let [_, b, g] = x.dims();
    x.clone().narrow(0, t, 1).reshape([b, g])
}

/// Reference GRU over a sequence; same contract as [`super::gru_sequence`].
pub fn gru_sequence_reference(
    gx: Tensor<3>,
    wh: Tensor<2>,
    bh: Tensor<1>,
    h0: Tensor<2>,
    reset: Tensor<2>,
) -> Tensor<3> {
    let d = super::check_shapes("gru", 3, &gx, &wh, &bh, &h0, &reset);
    if d.t == 0 {
        return Tensor::zeros([0, d.b, d.h], &gx.device());
    }
    let (h, reset) = (d.h, reset.detach());
    let bh = bh.unsqueeze::<2>();
    let mut state = h0;
    let mut outs = Vec::with_capacity(d.t);
    for t in 0..d.t {
        let hp = state * keep_at(&reset, t);
        let g = step_of(&gx, t);
        let p = hp.clone().matmul(wh.clone()) + bh.clone();
        let r = sigmoid(g.clone().narrow(1, 0, h) + p.clone().narrow(1, 0, h));
        let z = sigmoid(g.clone().narrow(1, h, h) + p.clone().narrow(1, h, h));
        let n = tanh(g.narrow(1, 2 * h, h) + r * p.narrow(1, 2 * h, h));
        state = z.clone().neg().add_scalar(1.0) * n + z * hp;
        outs.push(state.clone());
    }
    Tensor::stack(outs, 0)
}

/// Reference LSTM over a sequence; same contract as [`super::lstm_sequence`].
pub fn lstm_sequence_reference(
    gx: Tensor<3>,
    wh: Tensor<2>,
    bh: Tensor<1>,
    h0: Tensor<2>,
    c0: Tensor<2>,
    reset: Tensor<2>,
) -> (Tensor<3>, Tensor<3>) {
    let d = super::check_shapes("lstm", 4, &gx, &wh, &bh, &h0, &reset);
    assert_eq!(c0.dims(), [d.b, d.h], "lstm: c0 must be [{}, {}]", d.b, d.h);
    if d.t == 0 {
        let zeros = || Tensor::zeros([0, d.b, d.h], &gx.device());
        return (zeros(), zeros());
    }
    let (h, reset) = (d.h, reset.detach());
    let bh = bh.unsqueeze::<2>();
    let (mut hc, mut cc) = (h0, c0);
    let (mut hs, mut cs) = (Vec::with_capacity(d.t), Vec::with_capacity(d.t));
    for t in 0..d.t {
        let keep = keep_at(&reset, t);
        let (hp, cp) = (hc * keep.clone(), cc * keep);
        let a = step_of(&gx, t) + hp.matmul(wh.clone()) + bh.clone();
        let i = sigmoid(a.clone().narrow(1, 0, h));
        let f = sigmoid(a.clone().narrow(1, h, h));
        let g = tanh(a.clone().narrow(1, 2 * h, h));
        let o = sigmoid(a.narrow(1, 3 * h, h));
        cc = f * cp + i * g;
        hc = o * tanh(cc.clone());
        hs.push(hc.clone());
        cs.push(cc.clone());
    }
    (Tensor::stack(hs, 0), Tensor::stack(cs, 0))
}
