//! The memory-model catalogue: every block passes the runtime contract (SPEC §6), and its
//! initialisation and first step match the reference formulas (learning-anchors §5).

mod common;

use burn::prelude::*;
use common::{contract, max_diff};
use memoraxc::lower::ir_builder as b;
use memoraxc::runtime::carry::Carry;

fn vec1(t: Tensor<1>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

fn t1(v: &[f32], dev: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), dev)
}

fn t3(v: &[f32], shape: [usize; 3], dev: &Device) -> Tensor<3> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), dev)
}

#[test]
fn linear_attention_contract() {
    let _guard = common::serial();
    contract(b::linear_attention(6, 2, 3), 1e-5);
    contract(b::residual(b::prenorm(b::linear_attention(4, 1, 4))), 1e-5);
}

#[test]
fn linear_attention_first_step() {
    let _guard = common::serial();
    use memoraxc::runtime::linear_attention::LinearAttention;
    let dev = Device::flex();
    dev.seed(3);
    let la = LinearAttention::new(2, 1, 2, &dev);
    let x = t3(&[0.3, -0.7], [1, 1, 2], &dev);
    let s = Tensor::<2>::ones([1, 1], &dev);
    let (y, c) = la.forward(x.clone(), &s, la.init_carry(1, &dev));
    // by hand: one step, S = v φ(k)ᵀ, z = φ(k), o = v (φ(k)·φ(q)) / (φ(k)·φ(q)) = v
    let v = la.v.forward(x.clone());
    let expect = la.out.forward(la.norm.forward(v));
    assert!(max_diff(y, expect) < 1e-5);
    assert_eq!(c.leaves()[0].dims(), [1, 4]);
}

#[test]
fn lru_contract() {
    let _guard = common::serial();
    contract(b::lru(5, 6), 1e-5);
    contract(b::seq(vec![b::lru(4, 3), b::lru(4, 8)]), 1e-5);
}

#[test]
fn lru_ring_init_vectors() {
    let _guard = common::serial();
    use memoraxc::runtime::lru::{MAX_PHASE, ring_init};
    // learning-anchors §5.1: u = (0, .5, 1), ring (0.9, 0.999)
    let mags = [0.9, 0.95079, 0.999];
    let gammas = [0.43589, 0.30984, 0.04471];
    for (i, u) in [0.0, 0.5, 1.0].into_iter().enumerate() {
        let (nu, _, g) = ring_init(u, 0.5, 0.9, 0.999, MAX_PHASE);
        let mag = (-nu.exp()).exp();
        assert!(close(mag, mags[i], 1e-5), "|λ| {mag} vs {}", mags[i]);
        assert!(
            close(g.exp(), gammas[i], 1e-5),
            "γ {} vs {}",
            g.exp(),
            gammas[i]
        );
    }
    let (_, th, _) = ring_init(0.3, 0.25, 0.0, 1.0, MAX_PHASE);
    assert!(close(th.exp(), 0.25 * MAX_PHASE, 1e-9));
}

#[test]
fn lru_init_and_first_steps() {
    let _guard = common::serial();
    use memoraxc::runtime::lru::Lru;
    let dev = Device::flex();
    dev.seed(5);
    let lru = Lru::new(1, 2, &dev);
    // default ring (0, 1): |λ| < 1 and γ = √(1 − |λ|²)
    let (lr, li) = lru.lambda();
    let (lr, li) = (vec1(lr), vec1(li));
    let gam = vec1(lru.gamma_log.val().exp());
    for j in 0..2 {
        let m2 = (lr[j] * lr[j] + li[j] * li[j]) as f64;
        assert!(m2 < 1.0);
        assert!(close(gam[j] as f64, (1.0 - m2).sqrt(), 1e-5));
    }
    // two steps by hand with x = (1, 2)
    let x = t3(&[1.0, 2.0], [2, 1, 1], &dev);
    let s = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0], [2, 1]), &dev);
    let (y, _) = lru.forward(x, &s, lru.init_carry(1, &dev));
    let y = y.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    let v = |p: &burn::module::Param<Tensor<2>>| {
        p.val()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let (bre, bim, cre, cim) = (v(&lru.b_re), v(&lru.b_im), v(&lru.c_re), v(&lru.c_im));
    let d = vec1(lru.d.val())[0];
    let mut h = [(0.0f32, 0.0f32); 2];
    for (t, xt) in [1.0f32, 2.0].into_iter().enumerate() {
        let mut out = d * xt;
        for j in 0..2 {
            let (hr, hi) = h[j];
            let nr = lr[j] * hr - li[j] * hi + gam[j] * bre[j] * xt;
            let ni = lr[j] * hi + li[j] * hr + gam[j] * bim[j] * xt;
            h[j] = (nr, ni);
            out += cre[j] * nr - cim[j] * ni;
        }
        assert!((out - y[t]).abs() < 1e-5, "step {t}: {out} vs {}", y[t]);
    }
}

#[test]
fn s5_contract() {
    let _guard = common::serial();
    contract(b::s5(5, 6, "zoh"), 1e-5);
    contract(b::s5(4, 3, "bilinear"), 1e-5);
}

#[test]
fn s5_hippo_vectors() {
    let _guard = common::serial();
    use memoraxc::runtime::s5::{hippo_n, legs};
    let a = legs(4);
    let rows = [
        vec![-1.0],
        vec![-1.73205, -2.0],
        vec![-2.23607, -3.87298, -3.0],
        vec![-2.64575, -4.58258, -5.91608, -4.0],
    ];
    for (n, r) in rows.iter().enumerate() {
        for (k, v) in r.iter().enumerate() {
            assert!(close(a[n][k], *v, 1e-5));
        }
    }
    let im = |p: usize| -> Vec<f64> { hippo_n(p).iter().map(|e| e.0.1).collect() };
    let e4 = hippo_n(4);
    assert!(e4.iter().all(|e| e.0.0 == -0.5));
    let expect4 = [-4.60329, -0.55650, 0.55650, 4.60329];
    for (g, e) in im(4).iter().zip(expect4) {
        assert!(close(*g, e, 1e-5), "{g} vs {e}");
    }
    let expect8 = [
        -19.85741, -5.35421, -1.95779, -0.42749, 0.42749, 1.95779, 5.35421, 19.85741,
    ];
    for (g, e) in im(8).iter().zip(expect8) {
        assert!(close(*g, e, 1e-4), "{g} vs {e}");
    }
    // eigenvectors: S v = λ v with S = A + p pᵀ
    for ((lr, li), (vr, vi)) in e4 {
        for n in 0..4 {
            let (mut sr, mut si) = (0.0, 0.0);
            for k in 0..4 {
                let s = a[n][k] + ((n as f64 + 0.5) * (k as f64 + 0.5)).sqrt();
                sr += s * vr[k];
                si += s * vi[k];
            }
            assert!(close(sr, lr * vr[n] - li * vi[n], 1e-8));
            assert!(close(si, lr * vi[n] + li * vr[n], 1e-8));
        }
    }
}

#[test]
fn s5_discretisation_vectors() {
    let _guard = common::serial();
    use memoraxc::runtime::s5::discretize;
    let dev = Device::flex();
    let lam = (t1(&[-0.5], &dev), t1(&[4.60329], &dev));
    let ((r, i), _) = discretize(lam.clone(), t1(&[0.01], &dev), "zoh");
    assert!(close(vec1(r)[0] as f64, 0.99396, 1e-5));
    assert!(close(vec1(i)[0] as f64, 0.04579, 1e-5));
    // bilinear agrees with ZOH to second order for a small step; B coefficient ≈ Δ
    let ((r, i), (cr, ci)) = discretize(lam, t1(&[0.01], &dev), "bilinear");
    assert!(close(vec1(r)[0] as f64, 0.99396, 1e-4));
    assert!(close(vec1(i)[0] as f64, 0.04579, 1e-4));
    assert!(close(vec1(cr)[0] as f64, 0.01, 1e-3) && vec1(ci)[0].abs() < 1e-3);
}

#[test]
fn s5_first_step_is_bbar_x() {
    let _guard = common::serial();
    use memoraxc::runtime::s5::S5;
    let dev = Device::flex();
    dev.seed(9);
    let s5 = S5::new(1, 4, "zoh", &dev);
    let (_, br, bi) = s5.discrete();
    let x = t3(&[0.7], [1, 1, 1], &dev);
    let s = Tensor::<2>::ones([1, 1], &dev);
    let (_, c) = s5.forward(x, &s, s5.init_carry(1, &dev));
    let Carry::Leaf(h) = c else { panic!() };
    assert!(max_diff(h[0].clone(), br.mul_scalar(0.7)) < 1e-6);
    assert!(max_diff(h[1].clone(), bi.mul_scalar(0.7)) < 1e-6);
}

#[test]
fn ffm_contract() {
    let _guard = common::serial();
    contract(b::ffm(5, 4, 3), 1e-5);
    contract(b::residual(b::ffm(4, 2, 2)), 1e-5);
}

#[test]
fn ffm_init_vectors() {
    let _guard = common::serial();
    use memoraxc::runtime::ffm::ffm_init;
    let (alpha, omega, limit) = ffm_init(4, 4);
    assert!(close(limit, 0.076643, 1e-5));
    for (g, e) in alpha.iter().zip([-0.06664, -0.04593, -0.02521, -0.00450]) {
        assert!(close(*g, e, 1e-5), "α {g} vs {e}");
    }
    let tau = std::f64::consts::TAU;
    for (g, e) in omega.iter().zip([tau, 0.01837, 0.00920, 0.00614]) {
        assert!(close(*g, e, 1e-5), "ω {g} vs {e}");
    }
}

#[test]
fn ffm_decays_like_closed_form() {
    let _guard = common::serial();
    use memoraxc::runtime::ffm::Ffm;
    let dev = Device::flex();
    dev.seed(2);
    let ffm = Ffm::new(2, 2, 2, &dev);
    // an impulse at t = 0 then zero input: S_t = γ^t x̃_0 (closed form of memorax's scan)
    let x = t3(&[0.5, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [4, 1, 2], &dev);
    let mut s = vec![0.0f32; 4];
    s[0] = 1.0;
    let st = Tensor::<2>::from_data(TensorData::new(s, [4, 1]), &dev);
    // run it one step at a time, then compare with the whole sequence
    let (_, c_full) = ffm.forward(x.clone(), &st, ffm.init_carry(1, &dev));
    let mut c = ffm.init_carry(1, &dev);
    for t in 0..4 {
        let (_, c2) = ffm.forward(x.clone().narrow(0, t, 1), &st.clone().narrow(0, t, 1), c);
        c = c2;
    }
    assert!(max_diff(c.leaves()[0].clone(), c_full.leaves()[0].clone()) < 1e-6);
    assert_eq!(vec1(c.leaves()[2].clone().reshape([1]))[0], 4.0);
    // closed form with a nonzero steady input u = x̃(0): S_3 = Σ_{k=0..3} γ^k x̃_{3−k}
    let (gr, gi) = ffm.gamma();
    let (gr, gi) = (vec1(gr.reshape([4])), vec1(gi.reshape([4])));
    let xin = |t: usize| {
        let xt = x.clone().narrow(0, t, 1);
        vec1(
            (ffm.pre.forward(xt.clone()) * burn::tensor::activation::sigmoid(ffm.gate.forward(xt)))
                .reshape([2]),
        )
    };
    let got_re = vec1(c_full.leaves()[0].clone().reshape([4]));
    for j in 0..2 {
        for l in 0..2 {
            let idx = j * 2 + l;
            let (mut pr, mut pi) = (1.0f32, 0.0f32); // γ^k
            let mut acc = 0.0f32;
            for k in 0..4 {
                acc += pr * xin(3 - k)[j];
                let (nr, ni) = (pr * gr[idx] - pi * gi[idx], pr * gi[idx] + pi * gr[idx]);
                pr = nr;
                pi = ni;
            }
            assert!((acc - got_re[idx]).abs() < 1e-5, "{acc} vs {}", got_re[idx]);
        }
    }
}

fn vec2(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

#[test]
fn mamba_contract() {
    let _guard = common::serial();
    contract(b::mamba(5, 2, 3, 4, 4), 1e-5);
    contract(b::residual(b::prenorm(b::mamba(4, 1, 2, 2, 2))), 1e-5);
}

#[test]
fn mamba_dt_bias_vectors() {
    let _guard = common::serial();
    use memoraxc::runtime::mamba::inv_softplus;
    for (dt, e) in [(0.001, -6.90726), (0.01, -4.60017), (0.1, -2.25217)] {
        let b = inv_softplus(dt);
        assert!(close(b, e, 1e-5), "{b} vs {e}");
        assert!(close(b.exp().ln_1p(), dt, 1e-12));
    }
}

#[test]
fn mamba_first_step_and_window_reset() {
    let _guard = common::serial();
    use burn::tensor::activation::{silu, softplus};
    use memoraxc::runtime::mamba::Mamba;
    let dev = Device::flex();
    dev.seed(4);
    let mb = Mamba::new(2, 1, 1, 1, 3, &dev);
    let x = t3(&[0.4, -0.9], [1, 1, 2], &dev);
    let s = Tensor::<2>::ones([1, 1], &dev);
    // a junk conv window and state must be ignored at a start step
    let junk = mb
        .init_carry(1, &dev)
        .map(&mut |t| t.ones_like().mul_scalar(5.0));
    let (y, c) = mb.forward(x.clone(), &s, junk);
    let (y0, _) = mb.forward(x.clone(), &s, mb.init_carry(1, &dev));
    assert!(max_diff(y.clone(), y0) < 1e-6);
    // by hand: D = H·P = 1, N = 1; proj = [z, x, B, C, dt]
    let p = vec1(mb.in_proj.forward(x).reshape([5]));
    let w = vec2(mb.conv.weight.val()); // [K, 3]
    let cb = vec1(mb.conv.bias.val());
    let u: Vec<f32> = (0..3).map(|c| p[1 + c] * w[2 * 3 + c] + cb[c]).collect();
    let u: Vec<f32> = vec1(silu(t1(&u, &dev)));
    let dt = vec1(softplus(t1(&[p[4] + vec1(mb.dt_bias.val())[0]], &dev), 1.0))[0];
    let h = dt * u[1] * u[0];
    assert!((vec2(c.leaves()[0].clone())[0] - h).abs() < 1e-6);
    // the window now holds [0, 0, xBC_0] shifted: its last row is the current input
    let win = vec2(c.leaves()[1].clone());
    assert_eq!(win.len(), 2 * 3);
    for ch in 0..3 {
        assert!(win[ch].abs() < 1e-7);
        assert!((win[3 + ch] - p[1 + ch]).abs() < 1e-6);
    }
    let yv = u[2] * h + u[0]; // C·h + D·x with D = 1
    let gain = vec1(mb.norm.gamma.val())[0];
    let normed = yv / (yv * yv + 1e-6).sqrt() * gain;
    let pre = normed * vec1(silu(t1(&[p[0]], &dev)))[0];
    let expect = mb.out_proj.forward(t3(&[pre], [1, 1, 1], &dev));
    assert!(max_diff(y, expect) < 1e-5);
}

#[test]
fn slstm_contract() {
    let _guard = common::serial();
    contract(b::slstm(5, 4, 2, 3), 1e-4);
    contract(b::slstm(3, 6, 3, 1), 1e-4);
}

#[test]
fn mlstm_contract() {
    let _guard = common::serial();
    contract(b::mlstm(5, 4, 2, 3), 1e-4);
    contract(b::residual(b::mlstm(6, 6, 1, 4)), 1e-4);
}

#[test]
fn xlstm_init_vectors_and_first_step() {
    let _guard = common::serial();
    use memoraxc::runtime::xlstm::{Mlstm, Slstm, slstm_forget_bias};
    for (g, e) in slstm_forget_bias(4)
        .iter()
        .zip([5.0, -3.63068, -5.62561, -7.0])
    {
        assert!(close(*g, e, 1e-5), "{g} vs {e}");
    }
    let dev = Device::flex();
    dev.seed(8);
    // mLSTM: gate weights 0 at init, so step 1 has ĩ = b_i, f̃ = b_f and m_1 = max(log σ(b_f), b_i)
    let ml = Mlstm::new(3, 4, 2, 2, &dev);
    let bf = vec1(ml.wf.bias.as_ref().unwrap().val());
    assert!(close(bf[0] as f64, 3.0, 1e-6) && close(bf[1] as f64, 6.0, 1e-6));
    let bi = vec1(ml.wi.bias.as_ref().unwrap().val());
    let x = t3(&[0.2, -0.3, 0.5], [1, 1, 3], &dev);
    let s = Tensor::<2>::ones([1, 1], &dev);
    let (_, c) = ml.forward(x.clone(), &s, ml.init_carry(1, &dev));
    let m = vec2(c.leaves()[2].clone());
    for hd in 0..2 {
        let logf = -(1.0 + (-bf[hd]).exp()).ln();
        assert!((m[hd] - logf.max(bi[hd])).abs() < 1e-6);
    }
    // sLSTM: R = 0 and h₀ = 0, so h_1 = σ(õ) tanh(z̃) with z̃, õ = W_zo x̂ (biases 0)
    let sl = Slstm::new(3, 2, 1, 2, &dev);
    let (_, c) = sl.forward(x.clone(), &s, sl.init_carry(1, &dev));
    let xh = vec1(sl.inp.forward(x).reshape([2]));
    let w = vec1(sl.w_zo.val().reshape([8])); // [1, 2, 4]: (z0, z1, o0, o1) per input
    let h1 = vec2(c.leaves()[3].clone());
    for j in 0..2 {
        let z = xh[0] * w[j] + xh[1] * w[4 + j];
        let o = xh[0] * w[2 + j] + xh[1] * w[4 + 2 + j];
        let expect = z.tanh() / (1.0 + (-o).exp());
        assert!((h1[j] - expect).abs() < 1e-5, "{} vs {expect}", h1[j]);
    }
}

#[test]
fn shm_contract() {
    let _guard = common::serial();
    contract(b::shm(5, 4, 8), 1e-5);
}

#[test]
fn shm_first_step() {
    let _guard = common::serial();
    use memoraxc::runtime::shm::Shm;
    let dev = Device::flex();
    dev.seed(6);
    let shm = Shm::new(3, 2, 4, &dev);
    let x = t3(&[0.5, -1.0, 2.0], [1, 1, 3], &dev);
    let s = Tensor::<2>::ones([1, 1], &dev);
    let (_, c) = shm.forward(x.clone(), &s, shm.init_carry(1, &dev));
    // from zero memory: M_1 = U_1 = σ(η) v ⊗ k̂
    let xn = shm.norm.forward(x);
    let v = vec1(shm.v.forward(xn.clone()).reshape([2]));
    let k: Vec<f32> = vec1(shm.k.forward(xn.clone()).reshape([2]))
        .into_iter()
        .map(|u| u.max(0.0))
        .collect();
    let ks: f32 = k.iter().sum::<f32>() + 1e-5;
    let eta = 1.0 / (1.0 + (-vec1(shm.eta.forward(xn).reshape([1]))[0]).exp());
    let m = vec2(c.leaves()[0].clone());
    for i in 0..2 {
        for j in 0..2 {
            assert!((m[i * 2 + j] - eta * v[i] * k[j] / ks).abs() < 1e-6);
        }
    }
}

#[test]
fn rtu_contract() {
    let _guard = common::serial();
    contract(b::rtu(5, 4), 1e-5);
    contract(b::seq(vec![b::rtu(4, 3), b::lru(6, 4)]), 1e-5);
}

#[test]
fn rtu_first_step() {
    let _guard = common::serial();
    use memoraxc::runtime::rtu::Rtu;
    let dev = Device::flex();
    dev.seed(1);
    let rtu = Rtu::new(1, 3, &dev);
    let x = t3(&[1.5], [1, 1, 1], &dev);
    let s = Tensor::<2>::ones([1, 1], &dev);
    let (y, _) = rtu.forward(x, &s, rtu.init_carry(1, &dev));
    let (_, _, g) = rtu.lambda();
    let g = vec1(g);
    let (wr, wi) = (vec2(rtu.w_re.val()), vec2(rtu.w_im.val()));
    let y = vec1(y.reshape([6]));
    for j in 0..3 {
        assert!((y[j] - (1.5 * g[j] * wr[j]).max(0.0)).abs() < 1e-6);
        assert!((y[3 + j] - (1.5 * g[j] * wi[j]).max(0.0)).abs() < 1e-6);
    }
}

#[test]
fn cnn_contract() {
    let _guard = common::serial();
    contract(b::cnn(7 * 7 * 3, 7, &[8, 4], 3, "relu"), 1e-5);
    contract(b::cnn(5 * 5 * 2, 5, &[3], 1, "tanh"), 1e-5);
}

#[test]
fn vit_contract() {
    let _guard = common::serial();
    contract(b::vit(8 * 8 * 3, 8, 4, 2, 2, 8), 1e-4);
    contract(b::vit(6 * 6, 6, 3, 1, 1, 4), 1e-4);
}

/// The conv encoder sees the image in the grid worlds' layout: a single-tap identity-like
/// kernel maps pixel `(i, j)` channel `c` to the same output position.
#[test]
fn cnn_keeps_pixel_positions() {
    let _guard = common::serial();
    use memoraxc::runtime::image::Cnn;
    let dev = Device::flex();
    let cnn = Cnn::new(3, 2, &[2], 1, "identity", &dev);
    // weight [out 2, in 2, 1, 1] = identity, bias 0
    let w = Tensor::<2>::eye(2, &dev).reshape([2, 2, 1, 1]);
    let mut cnn = cnn;
    cnn.convs[0].weight = burn::module::Param::from_tensor(w);
    cnn.convs[0].bias = Some(burn::module::Param::from_tensor(Tensor::zeros([2], &dev)));
    let xs: Vec<f32> = (0..18).map(|v| v as f32).collect();
    let y = cnn.forward(t3(&xs, [1, 1, 18], &dev));
    let ys = y.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    assert_eq!(ys, xs);
}

#[test]
fn rtrl_contract() {
    let _guard = common::serial();
    common::contract_with(b::rtrl(b::lru(5, 6)), 1e-5, false);
    common::contract_with(b::rtrl(b::rtu(4, 3)), 1e-5, false);
}

/// RTRL's parameter gradients are exact: they equal back-propagation through time of the same
/// block with the same parameters, over a sequence with an episode reset inside.
#[test]
fn rtrl_parameter_gradients_equal_bptt() {
    let _guard = common::serial();
    use memoraxc::lower::lower_block;
    use memoraxc::runtime::layer::{Ctx, Layer};
    use memoraxc::runtime::rtrl::Rtrl;
    for block in [b::lru(3, 4), b::rtu(3, 4)] {
        let name = block.kind.clone();
        let dev = Device::flex();
        dev.seed(11);
        let ad = dev.clone().autodiff();
        let (plain, _) = lower_block(&b::with_paths(block, "t"), &ad).expect("lowers");
        let wrapped = Layer::Rtrl(Rtrl {
            inner: vec![plain.clone()],
        });
        let (t, nb) = (6, 2);
        let x = Tensor::<3>::random(
            [t, nb, 3],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &dev,
        );
        let mut st = vec![0.0f32; t * nb];
        st[0] = 1.0;
        st[1] = 1.0;
        st[3 * nb + 1] = 1.0; // env 1 restarts at t = 3
        let s = Tensor::<2>::from_data(TensorData::new(st, [t, nb]), &ad);
        let out = plain
            .forward(
                x.clone().autodiff(),
                &s,
                plain.init_carry(nb, &ad, &Ctx::new(&[])),
                &Ctx::new(&[]),
            )
            .0;
        let w = Tensor::<3>::random(
            out.dims(),
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &dev,
        )
        .autodiff();
        let loss = |l: &Layer| {
            let c = l.init_carry(nb, &ad, &Ctx::new(&[]));
            let (y, _) = l.forward(x.clone().autodiff(), &s, c, &Ctx::new(&[]));
            (y * w.clone()).sum()
        };
        let (la, lb) = (loss(&plain), loss(&wrapped));
        let d = (la.clone() - lb.clone()).abs().into_scalar::<f32>();
        assert!(d < 1e-5, "{name}: loss values differ by {d}");
        use burn::optim::GradientsParams;
        let ga = GradientsParams::from_grads(la.backward(), &plain);
        let gb = GradientsParams::from_grads(lb.backward(), &wrapped);
        let (va, vb) = (
            common::param_grads(&plain, &ga),
            common::param_grads(&wrapped, &gb),
        );
        assert_eq!(va.len(), vb.len(), "{name}: same parameters");
        let mut checked = 0;
        for (a, b) in va.into_iter().zip(vb) {
            let (a, b) = (a.expect("bptt grad"), b.expect("rtrl grad"));
            let scale = a.clone().abs().max().into_scalar::<f32>().max(1.0);
            let d = (a - b).abs().max().into_scalar::<f32>();
            assert!(
                d <= 1e-4 * scale,
                "{name}: parameter gradient differs by {d}"
            );
            checked += 1;
        }
        assert!(checked >= 4, "{name}: only {checked} parameters compared");
    }
}
