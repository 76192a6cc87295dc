//! Fused whole-sequence GRU/LSTM ops against the per-step reference: values, gradients (also
//! against finite differences), reset isolation and chunking.

use burn::tensor::{Device, Tensor, TensorData};
use memoraxc::runtime::fused::{
    gru_sequence, gru_sequence_reference, lstm_sequence, lstm_sequence_reference,
    uses_fused_kernels,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Which recurrent cell a case exercises.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cell {
    Gru,
    Lstm,
}

impl Cell {
    fn gates(self) -> usize {
        match self {
            Cell::Gru => 3,
            Cell::Lstm => 4,
        }
    }
    fn outputs(self) -> usize {
        match self {
            Cell::Gru => 1,
            Cell::Lstm => 2,
        }
    }
}

/// Host copies of one call's inputs.
#[derive(Clone, Debug)]
struct Case {
    cell: Cell,
    t: usize,
    b: usize,
    h: usize,
    gx: Vec<f32>,
    wh: Vec<f32>,
    bh: Vec<f32>,
    h0: Vec<f32>,
    c0: Vec<f32>,
    reset: Vec<f32>,
}

fn uniform(rng: &mut StdRng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

impl Case {
    fn random(cell: Cell, t: usize, b: usize, h: usize, seed: u64) -> Case {
        let mut rng = StdRng::seed_from_u64(seed);
        let g = cell.gates() * h;
        let mut reset: Vec<f32> = (0..t * b)
            .map(|_| if rng.random_bool(0.2) { 1.0 } else { 0.0 })
            .collect();
        if t > 2 {
            reset[(t / 2) * b] = 1.0; // at least one reset inside the sequence
        }
        Case {
            cell,
            t,
            b,
            h,
            gx: uniform(&mut rng, t * b * g, 1.5),
            wh: uniform(&mut rng, h * g, 0.8),
            bh: uniform(&mut rng, g, 0.5),
            h0: uniform(&mut rng, b * h, 1.0),
            c0: uniform(&mut rng, b * h, 1.0),
            reset,
        }
    }
}

/// The inputs as tensors on one device; the differentiable ones are leaves that require grad
/// when `track` is set.
struct Inputs {
    gx: Tensor<3>,
    wh: Tensor<2>,
    bh: Tensor<1>,
    h0: Tensor<2>,
    c0: Tensor<2>,
    reset: Tensor<2>,
}

impl Inputs {
    fn new(c: &Case, dev: &Device, track: bool) -> Inputs {
        let g = c.cell.gates() * c.h;
        let leaf = |t: Tensor<2>| if track { t.require_grad() } else { t };
        let gx = Tensor::<3>::from_data(TensorData::new(c.gx.clone(), [c.t, c.b, g]), dev);
        let bh = Tensor::<1>::from_data(TensorData::new(c.bh.clone(), [g]), dev);
        Inputs {
            gx: if track { gx.require_grad() } else { gx },
            wh: leaf(Tensor::from_data(
                TensorData::new(c.wh.clone(), [c.h, g]),
                dev,
            )),
            bh: if track { bh.require_grad() } else { bh },
            h0: leaf(Tensor::from_data(
                TensorData::new(c.h0.clone(), [c.b, c.h]),
                dev,
            )),
            c0: leaf(Tensor::from_data(
                TensorData::new(c.c0.clone(), [c.b, c.h]),
                dev,
            )),
            reset: Tensor::from_data(TensorData::new(c.reset.clone(), [c.t, c.b]), dev),
        }
    }

    /// Runs the cell; returns its outputs (`[hs]` or `[hs, cs]`).
    fn run(&self, cell: Cell, fused: bool) -> Vec<Tensor<3>> {
        let (gx, wh, bh, h0) = (
            self.gx.clone(),
            self.wh.clone(),
            self.bh.clone(),
            self.h0.clone(),
        );
        let reset = self.reset.clone();
        match (cell, fused) {
            (Cell::Gru, true) => vec![gru_sequence(gx, wh, bh, h0, reset)],
            (Cell::Gru, false) => vec![gru_sequence_reference(gx, wh, bh, h0, reset)],
            (Cell::Lstm, fused) => {
                let f = if fused {
                    lstm_sequence
                } else {
                    lstm_sequence_reference
                };
                let (hs, cs) = f(gx, wh, bh, h0, self.c0.clone(), reset);
                vec![hs, cs]
            }
        }
    }

    /// Gradients of every differentiable input of `cell`, flattened and named.
    fn grads(&self, cell: Cell, grads: &burn::tensor::Gradients) -> Vec<(&'static str, Vec<f32>)> {
        let mut out = vec![
            ("gx", to_vec(self.gx.grad(grads).expect("gx grad"))),
            ("wh", to_vec(self.wh.grad(grads).expect("wh grad"))),
            ("bh", to_vec(self.bh.grad(grads).expect("bh grad"))),
            ("h0", to_vec(self.h0.grad(grads).expect("h0 grad"))),
        ];
        if cell.outputs() == 2 {
            out.push(("c0", to_vec(self.c0.grad(grads).expect("c0 grad"))));
        }
        out
    }
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn max_abs(a: &[f32]) -> f32 {
    a.iter().map(|x| x.abs()).fold(0.0, f32::max)
}

/// Fixed random weights for the scalar loss `Σ_k Σ outputs[k] ⊙ R_k`.
fn loss_weights(c: &Case, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..c.cell.outputs())
        .map(|_| uniform(&mut rng, c.t * c.b * c.h, 1.0))
        .collect()
}

fn loss(outs: Vec<Tensor<3>>, weights: &[Vec<f32>]) -> Tensor<1> {
    let mut total: Option<Tensor<1>> = None;
    for (o, w) in outs.into_iter().zip(weights) {
        let r = Tensor::<3>::from_data(TensorData::new(w.clone(), o.dims()), &o.device());
        let l = (o * r).sum();
        total = Some(match total {
            Some(t) => t + l,
            None => l,
        });
    }
    total.unwrap()
}

/// Gradients of the loss with respect to each leaf, flattened.
fn gradients(c: &Case, fused: bool, weights: &[Vec<f32>]) -> Vec<(&'static str, Vec<f32>)> {
    let dev = Device::flex().autodiff();
    let x = Inputs::new(c, &dev, true);
    let grads = loss(x.run(c.cell, fused), weights).backward();
    x.grads(c.cell, &grads)
}

const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (1, 3, 4),
    (6, 1, 3),
    (9, 4, 8),
    (17, 3, 5),
    (12, 2, 16),
];

fn check_forward_matches_reference(cell: Cell) {
    assert!(uses_fused_kernels(&Device::flex()) && uses_fused_kernels(&Device::flex().autodiff()));
    let mut differs = false;
    for (i, &(t, b, h)) in SHAPES.iter().enumerate() {
        let c = Case::random(cell, t, b, h, 100 + i as u64);
        for dev in [Device::flex(), Device::flex().autodiff()] {
            let x = Inputs::new(&c, &dev, false);
            let fused = x.run(cell, true);
            let reference = x.run(cell, false);
            for (f, r) in fused.into_iter().zip(reference) {
                assert_eq!(f.dims(), [t, b, h]);
                let diff = max_abs_diff(&to_vec(f), &to_vec(r));
                assert!(
                    diff <= 1e-5,
                    "{cell:?} T={t} B={b} H={h} on {dev:?}: diff {diff}"
                );
                differs |= diff > 0.0;
            }
        }
    }
    // The fused kernels use their own exp/tanh: bit-identical results would mean they never ran.
    assert!(
        differs,
        "{cell:?}: fused output is bit-identical to the reference"
    );
}

fn check_gradients_match_reference(cell: Cell) {
    for (i, &(t, b, h)) in SHAPES.iter().enumerate() {
        let c = Case::random(cell, t, b, h, 200 + i as u64);
        let w = loss_weights(&c, 300 + i as u64);
        let fused = gradients(&c, true, &w);
        let reference = gradients(&c, false, &w);
        for ((name, f), (_, r)) in fused.iter().zip(&reference) {
            let rel = max_abs_diff(f, r) / max_abs(r).max(1e-6);
            assert!(
                rel <= 1e-4,
                "{cell:?} T={t} B={b} H={h} d{name}: relative diff {rel}"
            );
        }
    }
}

/// `reset` is data, not a parameter: no gradient reaches it even when it asks for one.
fn check_no_gradient_to_reset(cell: Cell) {
    let c = Case::random(cell, 6, 2, 3, 41);
    let w = loss_weights(&c, 42);
    for fused in [true, false] {
        let mut x = Inputs::new(&c, &Device::flex().autodiff(), true);
        x.reset = x.reset.require_grad();
        let grads = loss(x.run(cell, fused), &w).backward();
        let g = x
            .reset
            .grad(&grads)
            .map(|g| max_abs(&to_vec(g)))
            .unwrap_or(0.0);
        assert_eq!(g, 0.0, "{cell:?} fused={fused}: reset received a gradient");
        assert!(x.h0.grad(&grads).is_some());
    }
}

/// Central finite differences of the loss (run with `fused`) against its autodiff gradients.
fn check_finite_differences(cell: Cell, fused: bool) {
    let c = Case::random(cell, 4, 2, 3, 7);
    let w = loss_weights(&c, 8);
    let analytic = gradients(&c, fused, &w);
    let dev = Device::flex();
    let eval = |c: &Case| -> f64 {
        let x = Inputs::new(c, &dev, false);
        loss(x.run(cell, fused), &w).into_scalar::<f32>() as f64
    };
    let eps = 1e-2f32;
    for (name, grad) in analytic {
        for (k, &g) in grad.iter().enumerate() {
            let mut plus = c.clone();
            let mut minus = c.clone();
            for (case, sign) in [(&mut plus, 1.0), (&mut minus, -1.0)] {
                let v = match name {
                    "gx" => &mut case.gx,
                    "wh" => &mut case.wh,
                    "bh" => &mut case.bh,
                    "h0" => &mut case.h0,
                    _ => &mut case.c0,
                };
                v[k] += sign * eps;
            }
            let fd = ((eval(&plus) - eval(&minus)) / (2.0 * eps as f64)) as f32;
            let tol = 3e-3 + 1e-2 * g.abs();
            assert!(
                (fd - g).abs() <= tol,
                "{cell:?} fused={fused} d{name}[{k}]: autodiff {g}, finite difference {fd}"
            );
        }
    }
}

/// With every row reset at step `k`, nothing before `k` (h0, c0, gx[..k]) reaches `hs[k..]`.
fn check_reset_isolation(cell: Cell) {
    let (t, b, h, k) = (10, 3, 6, 4);
    let mut c = Case::random(cell, t, b, h, 11);
    for row in 0..b {
        c.reset[k * b + row] = 1.0;
    }
    let mut changed = c.clone();
    let mut rng = StdRng::seed_from_u64(12);
    changed.h0 = uniform(&mut rng, b * h, 2.0);
    changed.c0 = uniform(&mut rng, b * h, 2.0);
    let g = cell.gates() * h;
    for v in &mut changed.gx[..k * b * g] {
        *v += rng.random_range(-1.0..1.0);
    }
    for dev in [Device::flex(), Device::flex().autodiff()] {
        for fused in [true, false] {
            let a = Inputs::new(&c, &dev, false).run(cell, fused);
            let z = Inputs::new(&changed, &dev, false).run(cell, fused);
            for (a, z) in a.into_iter().zip(z) {
                let (a, z) = (to_vec(a), to_vec(z));
                let after = k * b * h;
                assert_eq!(
                    a[after..],
                    z[after..],
                    "{cell:?} fused={fused}: state leaked"
                );
                assert_ne!(
                    a[..after],
                    z[..after],
                    "the change must matter before the reset"
                );
            }
        }
    }
    // And no gradient reaches h0 from a loss on the outputs after the reset.
    let dev = Device::flex().autodiff();
    let x = Inputs::new(&c, &dev, true);
    let outs = x.run(cell, true);
    let l = outs
        .into_iter()
        .map(|o| o.narrow(0, k, t - k).sum())
        .reduce(|a, b| a + b)
        .unwrap();
    let grads = l.backward();
    assert_eq!(max_abs(&to_vec(x.h0.grad(&grads).unwrap())), 0.0);
}

/// Two calls carrying the final state equal one call, in values and in gradients.
fn check_chunking(cell: Cell) {
    let (t, b, h, k) = (11, 3, 5, 4);
    let c = Case::random(cell, t, b, h, 21);
    let w = loss_weights(&c, 22);
    let dev = Device::flex().autodiff();
    let whole = Inputs::new(&c, &dev, true);
    let whole_out = whole.run(cell, true);

    let split = Inputs::new(&c, &dev, true);
    let first = Inputs {
        gx: split.gx.clone().narrow(0, 0, k),
        reset: split.reset.clone().narrow(0, 0, k),
        ..split.clone_refs()
    };
    let out1 = first.run(cell, true);
    let last = |o: &Tensor<3>| o.clone().narrow(0, k - 1, 1).reshape([b, h]);
    let second = Inputs {
        gx: split.gx.clone().narrow(0, k, t - k),
        reset: split.reset.clone().narrow(0, k, t - k),
        h0: last(&out1[0]),
        c0: if cell.outputs() == 2 {
            last(&out1[1])
        } else {
            split.c0.clone()
        },
        ..split.clone_refs()
    };
    let out2 = second.run(cell, true);
    let joined: Vec<Tensor<3>> = out1
        .into_iter()
        .zip(out2)
        .map(|(a, b)| Tensor::cat(vec![a, b], 0))
        .collect();
    for (j, w1) in joined.iter().zip(&whole_out) {
        let diff = max_abs_diff(&to_vec(j.clone()), &to_vec(w1.clone()));
        assert!(diff <= 1e-6, "{cell:?}: chunked forward differs by {diff}");
    }
    let gw = loss(whole_out, &w).backward();
    let gs = loss(joined, &w).backward();
    for ((name, ga), (_, gz)) in whole
        .grads(cell, &gw)
        .into_iter()
        .zip(split.grads(cell, &gs))
    {
        let rel = max_abs_diff(&ga, &gz) / max_abs(&ga).max(1e-6);
        assert!(rel <= 1e-5, "{cell:?} chunked d{name} differs: {rel}");
    }
}

impl Inputs {
    fn clone_refs(&self) -> Inputs {
        Inputs {
            gx: self.gx.clone(),
            wh: self.wh.clone(),
            bh: self.bh.clone(),
            h0: self.h0.clone(),
            c0: self.c0.clone(),
            reset: self.reset.clone(),
        }
    }
}

#[test]
fn gru_forward_matches_reference() {
    check_forward_matches_reference(Cell::Gru);
}

#[test]
fn gru_gradients_match_reference() {
    check_gradients_match_reference(Cell::Gru);
}

#[test]
fn gru_no_gradient_to_reset() {
    check_no_gradient_to_reset(Cell::Gru);
}

#[test]
fn gru_reference_matches_finite_differences() {
    check_finite_differences(Cell::Gru, false);
}

#[test]
fn gru_fused_matches_finite_differences() {
    check_finite_differences(Cell::Gru, true);
}

#[test]
fn gru_reset_isolates_the_past() {
    check_reset_isolation(Cell::Gru);
}

#[test]
fn gru_chunked_equals_whole() {
    check_chunking(Cell::Gru);
}

#[test]
fn gru_untracked_paths_and_downstream_ops() {
    let c = Case::random(Cell::Gru, 5, 2, 4, 31);
    let expected = to_vec(
        Inputs::new(&c, &Device::flex(), false)
            .run(Cell::Gru, false)
            .remove(0),
    );
    // Autodiff device, nothing requires grad (e.g. acting with an autodiff model): forward only.
    let x = Inputs::new(&c, &Device::flex().autodiff(), false);
    let hs = x.run(Cell::Gru, true).remove(0);
    assert!(max_abs_diff(&to_vec(hs.clone()), &expected) <= 1e-5);
    // Outputs feed further ops and a backward through a tracked consumer.
    let head = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; 4 * 2], [4, 2]), &hs.device())
        .require_grad();
    let y = hs.reshape([10, 4]).matmul(head.clone()).tanh().sum();
    let grads = y.backward();
    assert!(max_abs(&to_vec(head.grad(&grads).unwrap())) > 0.0);
    // Non-contiguous inputs (a transposed weight) give the same result.
    let dev = Device::flex();
    let x = Inputs::new(&c, &dev, false);
    let wh_t = Tensor::<2>::from_data(TensorData::new(c.wh.clone(), [4, 12]), &dev)
        .transpose()
        .contiguous_copy_for_test()
        .transpose();
    let hs = gru_sequence(
        x.gx.clone(),
        wh_t,
        x.bh.clone(),
        x.h0.clone(),
        x.reset.clone(),
    );
    assert!(max_abs_diff(&to_vec(hs), &expected) <= 1e-5);
}

#[test]
fn lstm_forward_matches_reference() {
    check_forward_matches_reference(Cell::Lstm);
}

#[test]
fn lstm_gradients_match_reference() {
    check_gradients_match_reference(Cell::Lstm);
}

#[test]
fn lstm_no_gradient_to_reset() {
    check_no_gradient_to_reset(Cell::Lstm);
}

#[test]
fn lstm_reference_matches_finite_differences() {
    check_finite_differences(Cell::Lstm, false);
}

#[test]
fn lstm_fused_matches_finite_differences() {
    check_finite_differences(Cell::Lstm, true);
}

#[test]
fn lstm_reset_isolates_the_past() {
    check_reset_isolation(Cell::Lstm);
}

#[test]
fn lstm_chunked_equals_whole() {
    check_chunking(Cell::Lstm);
}

#[test]
fn lstm_hs_only_loss_and_untracked_forward() {
    // A loss on hs alone (cs unused) still back-propagates through the packed output.
    let c = Case::random(Cell::Lstm, 7, 3, 4, 51);
    let dev = Device::flex().autodiff();
    let mut per_path = vec![];
    for fused in [true, false] {
        let x = Inputs::new(&c, &dev, true);
        let hs = x.run(Cell::Lstm, fused).remove(0);
        let grads = hs.powf_scalar(2.0).sum().backward();
        per_path.push(x.grads(Cell::Lstm, &grads));
    }
    for ((name, f), (_, r)) in per_path[0].iter().zip(&per_path[1]) {
        let rel = max_abs_diff(f, r) / max_abs(r).max(1e-6);
        assert!(rel <= 1e-4, "lstm hs-only d{name}: relative diff {rel}");
    }
    // Autodiff device, nothing tracked: forward only, same values.
    let x = Inputs::new(&c, &dev, false);
    let p = Inputs::new(&c, &Device::flex(), false);
    for (a, r) in x
        .run(Cell::Lstm, true)
        .into_iter()
        .zip(p.run(Cell::Lstm, false))
    {
        assert!(max_abs_diff(&to_vec(a), &to_vec(r)) <= 1e-5);
    }
}

/// Helper: materialises a tensor (so that a following `transpose` is a strided view).
trait ContiguousCopy {
    fn contiguous_copy_for_test(self) -> Self;
}

impl ContiguousCopy for Tensor<2> {
    fn contiguous_copy_for_test(self) -> Self {
        let dims = self.dims();
        let dev = self.device();
        Tensor::from_data(TensorData::new(to_vec(self), dims), &dev)
    }
}
