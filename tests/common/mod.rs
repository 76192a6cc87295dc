//! The runtime contract harness of SPEC §6, shared by the contract test files: the sequence form
//! with resets equals stepping one step at a time and any chunking; nothing before a `start`
//! influences anything after it; gradients flow and match finite differences; `init_carry` is
//! deterministic; burn's parameter count and carry size equal the checker's analytic values.
#![allow(dead_code)]

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use memoraxc::check::ir::Block;
use memoraxc::lower::{ir_builder as b, lower_block};
use memoraxc::runtime::carry::Carry;
use memoraxc::runtime::layer::{Ctx, Layer};

const T: usize = 9;
const B: usize = 3;

/// Start flags: every env starts at t = 0; env 1 restarts at t = 4, env 2 at t = 6.
fn starts(dev: &Device) -> Tensor<2> {
    let mut s = vec![0.0f32; T * B];
    s[..B].fill(1.0);
    s[4 * B + 1] = 1.0;
    s[6 * B + 2] = 1.0;
    Tensor::from_data(TensorData::new(s, [T, B]), dev)
}

/// Largest absolute elementwise difference.
pub fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

fn run(
    layer: &Layer,
    shared: &[Layer],
    x: Tensor<3>,
    s: &Tensor<2>,
    c: Carry,
) -> (Tensor<3>, Carry) {
    layer.forward(x, s, c, &Ctx::new(shared))
}

/// Largest absolute difference between two carries of the same structure.
pub fn carry_diff(a: &Carry, b: &Carry) -> f32 {
    match (a, b) {
        (Carry::Unit, Carry::Unit) => 0.0,
        (Carry::Leaf(x), Carry::Leaf(y)) => x
            .iter()
            .zip(y)
            .filter(|(p, _)| p.dims()[1] > 0)
            .map(|(p, q)| max_diff(p.clone(), q.clone()))
            .fold(0.0, f32::max),
        (Carry::Tuple(x), Carry::Tuple(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| carry_diff(p, q))
            .fold(0.0, f32::max),
        _ => f32::INFINITY,
    }
}

/// burn's RNG is process-global: tests running in parallel threads would interleave their draws
/// and see different (non-reproducible) inputs, so every test of a binary using this module holds
/// this lock from start to end.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Take the per-binary test lock (see [`SERIAL`]).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Check every invariant of the runtime contract for `block` at tolerance `tol`.
pub fn contract(block: Block, tol: f32) {
    contract_with(block, tol, true);
}

/// [`contract`]; with `through_time = false` (real-time recurrent learning, whose input gradient
/// is the one-step truncation by design) only the last step's input gradients must equal
/// central differences.
pub fn contract_with(block: Block, tol: f32, through_time: bool) {
    let name = block.kind.clone();
    let block = b::with_paths(block, "t");
    let dev = Device::flex();
    dev.seed(7);
    let (layer, shared) = lower_block(&block, &dev).expect("lowers");
    let f = block.input;
    // parameter count agrees with the checker's formula
    let counted =
        layer.num_params() as u64 + shared.iter().map(|l| l.num_params() as u64).sum::<u64>();
    assert_eq!(
        counted, block.params,
        "{name}: burn parameter count vs analytic count"
    );
    let ctx = Ctx::new(&shared);
    // init_carry deterministic and shaped per environment
    let c0 = layer.init_carry(B, &dev, &ctx);
    assert_eq!(
        carry_diff(&c0, &layer.init_carry(B, &dev, &ctx)),
        0.0,
        "{name}: init_carry deterministic"
    );
    assert_eq!(
        c0.floats_per_env() as u64,
        block.carry.floats_per_env(),
        "{name}: carry size vs checker"
    );
    let x = Tensor::<3>::random([T, B, f], Distribution::Normal(0.0, 1.0), &dev);
    let s = starts(&dev);
    let (y_full, c_full) = run(&layer, &shared, x.clone(), &s, c0.clone());
    assert_eq!(y_full.dims(), [T, B, block.output], "{name}: output shape");
    // one step at a time; a carry kept from the middle (as a rollout keeps its start) must not
    // change when later steps update their own carries' buffers in place
    let mut c = c0.clone();
    let mut ys = Vec::new();
    let mut kept = None;
    for t in 0..T {
        if t == T / 2 {
            let copy = c.clone().map(&mut |t| Tensor::from_data(t.to_data(), &dev));
            kept = Some((c.clone(), copy));
        }
        let (y, c2) = run(
            &layer,
            &shared,
            x.clone().narrow(0, t, 1),
            &s.clone().narrow(0, t, 1),
            c,
        );
        ys.push(y);
        c = c2;
    }
    let y_step = Tensor::cat(ys, 0);
    let d = max_diff(y_full.clone(), y_step);
    assert!(d <= tol, "{name}: stepwise differs from sequence by {d}");
    let (kept, copy) = kept.expect("a carry kept mid-sequence");
    assert_eq!(
        carry_diff(&kept, &copy),
        0.0,
        "{name}: stepping changed a carry kept from an earlier step"
    );
    assert!(
        carry_diff(&c, &c_full) <= tol,
        "{name}: stepwise final carry differs"
    );
    // arbitrary chunking: 2 + 5 + 2
    let mut c = c0.clone();
    let mut ys = Vec::new();
    for (a, n) in [(0, 2), (2, 5), (7, 2)] {
        let (y, c2) = run(
            &layer,
            &shared,
            x.clone().narrow(0, a, n),
            &s.clone().narrow(0, a, n),
            c,
        );
        ys.push(y);
        c = c2;
    }
    let d = max_diff(y_full.clone(), Tensor::cat(ys, 0));
    assert!(d <= tol, "{name}: chunked differs from sequence by {d}");
    assert!(
        carry_diff(&c, &c_full) <= tol,
        "{name}: chunked final carry differs"
    );
    // reset isolation: change env 1 before its restart at t = 4 and any incoming carry
    let noise = Tensor::<3>::random([4, 1, f], Distribution::Normal(0.0, 3.0), &dev);
    let x2 = x.clone().slice_assign([0..4, 1..2, 0..f], noise);
    let junk = c0
        .clone()
        .map(&mut |t| t.clone().random_like(Distribution::Normal(0.0, 1.0)));
    let (y2, _) = run(&layer, &shared, x2, &s, junk);
    let after = |y: Tensor<3>| y.narrow(0, 4, T - 4).narrow(1, 1, 1);
    let d = max_diff(after(y_full.clone()), after(y2));
    assert!(
        d <= tol,
        "{name}: state leaked across an episode reset ({d})"
    );
    // gradients: finite, and equal to central differences with respect to the input
    let ad = dev.clone().autodiff();
    let (layer_ad, shared_ad) = (
        layer.clone().fork(&ad),
        shared
            .iter()
            .map(|l| l.clone().fork(&ad))
            .collect::<Vec<_>>(),
    );
    let xs = Tensor::<3>::random([3, 2, f], Distribution::Normal(0.0, 1.0), &dev);
    let ss = starts(&dev).narrow(0, 0, 3).narrow(1, 0, 2);
    let w = Tensor::<3>::random([3, 2, block.output], Distribution::Normal(0.0, 1.0), &dev);
    let loss_of = |xin: Tensor<3>, lay: &Layer, sh: &[Layer], dv: &Device| {
        let c = lay.init_carry(2, dv, &Ctx::new(sh));
        let conv = |t: Tensor<3>| if dv.is_autodiff() { t.autodiff() } else { t };
        let s2 = if dv.is_autodiff() {
            ss.clone().autodiff()
        } else {
            ss.clone()
        };
        let (y, _) = lay.forward(xin, &s2, c, &Ctx::new(sh));
        (y * conv(w.clone())).sum()
    };
    let xa = xs.clone().autodiff().require_grad();
    let grads = loss_of(xa.clone(), &layer_ad, &shared_ad, &ad).backward();
    let gx = xa.grad(&grads).expect("input gradient");
    let gx: Vec<f32> = gx.into_data().convert::<f32>().try_into_vec().unwrap();
    assert!(
        gx.iter().all(|v| v.is_finite()),
        "{name}: non-finite gradient"
    );
    let xv: Vec<f32> = xs
        .clone()
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap();
    let eps = 1e-2f32;
    let probes = if through_time {
        vec![0, xv.len() / 2, xv.len() - 1]
    } else {
        vec![xv.len() - 2 * f, xv.len() - 1]
    };
    for k in probes {
        let mut p = xv.clone();
        let mut m = xv.clone();
        p[k] += eps;
        m[k] -= eps;
        let lp = loss_of(
            Tensor::from_data(TensorData::new(p, [3, 2, f]), &dev),
            &layer,
            &shared,
            &dev,
        )
        .into_scalar::<f32>();
        let lm = loss_of(
            Tensor::from_data(TensorData::new(m, [3, 2, f]), &dev),
            &layer,
            &shared,
            &dev,
        )
        .into_scalar::<f32>();
        let num = (lp - lm) / (2.0 * eps);
        let err = (num - gx[k]).abs();
        assert!(
            err <= 2e-2 * (1.0 + num.abs()),
            "{name}: d/dx[{k}] autodiff {} vs numeric {num}",
            gx[k]
        );
    }
}

/// The gradient of every parameter of `m` (visit order), flattened; `None` where it has none.
pub fn param_grads<M: burn::module::Module>(
    m: &M,
    grads: &burn::optim::GradientsParams,
) -> Vec<Option<Tensor<1>>> {
    use burn::module::{ModuleVisitor, Param};
    struct V<'a>(&'a burn::optim::GradientsParams, Vec<Option<Tensor<1>>>);
    impl ModuleVisitor for V<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let g = self.0.get::<D>(p.id).map(|g| {
                let n = g.shape().num_elements();
                g.reshape([n])
            });
            self.1.push(g);
        }
    }
    let mut v = V(grads, Vec::new());
    m.visit(&mut v);
    v.1
}
