//! `slstm(h, heads, conv)` and `mlstm(h, heads, conv)`: the xLSTM cells (Beck et al. 2024)
//! with max-stabilised exponential gating and a carried, reset causal-conv window.
//!
//! sLSTM: `x̂ = W_in x`, `x_c = silu(conv(x̂))`; block-diagonal (per head) pre-activations
//! `ĩ, f̃ = W x_c + R h_{t−1} + b`, `z̃, õ = W x̂ + R h_{t−1} + b`; `m_t = max(log σ(f̃) + m_{t−1}, ĩ)`,
//! `i' = exp(ĩ − m_t)`, `f' = exp(log σ(f̃) + m_{t−1} − m_t)`, `c_t = f' c + i' tanh z̃`,
//! `n_t = f' n + i'`, `h_t = σ(õ) c_t / max(n_t, ε)`; out `= W_out(LN_head(h_t))`.
//! mLSTM: `[x_m, z] = W_up x`, `x_c = silu(conv(x_m))`, `q, k = blockdiag(x_c)` (`k / √d`),
//! `v = blockdiag(x_m)`, `ĩ, f̃ = W_{i,f}[q, k, v] + b`; per head `C_t = f' C + i' v kᵀ`,
//! `n_t = f' n + i' k`, `h̃ = C q / max(|nᵀq|, exp(−m_t))`; out
//! `= W_out((LN_head(h̃) + skip ⊙ x_c) ⊙ silu(z))`.
//! All states (including `m`) start at zero and are zeroed, with the conv window, before a
//! start step. Initialisation: sLSTM `R = 0`, `W ~ N(0, 1/d)`, biases 0 except the power-law
//! forget bias `b_f[j] = −(−5 + 12 (j/(d−1))^0.3)` per head ([`slstm_forget_bias`]); mLSTM
//! q, k, v `~ N(0, 1/d)`, gate weights 0, `b_i ~ N(0, 0.1)`, `b_f = linspace(3, 6, H)`, skip 1;
//! layer norms gain 1 bias 0; conv as [`CausalConv`]; burn default init for the projections.

use super::basic::linear;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, silu, softplus};

use super::carry::{Carry, reset_rows};
use super::conv::CausalConv;
use super::scan::{Rng, param1, start_at, step_at};

/// Denominator floor of the sLSTM normaliser.
const EPS: f32 = 1e-6;

/// Power-law forget-gate bias of one sLSTM head of width `d`.
pub fn slstm_forget_bias(d: usize) -> Vec<f64> {
    (0..d)
        .map(|j| {
            let r = if d > 1 {
                j as f64 / (d - 1) as f64
            } else {
                0.0
            };
            -(-5.0 + 12.0 * r.powf(0.3))
        })
        .collect()
}

/// Block-diagonal map: `x: [N, H·d]`, `w: [H, d, e]` → `[N, H·e]`.
fn blockdiag(x: Tensor<2>, w: Tensor<3>) -> Tensor<2> {
    let [hh, d, e] = w.dims();
    let n = x.dims()[0];
    x.reshape([n, hh, d])
        .swap_dims(0, 1)
        .matmul(w)
        .swap_dims(0, 1)
        .reshape([n, hh * e])
}

/// Block-diagonal map over a sequence `[T, B, H·d]`.
fn blockdiag3(x: Tensor<3>, w: Tensor<3>) -> Tensor<3> {
    let [t, b, f] = x.dims();
    let e = w.dims()[0] * w.dims()[2];
    blockdiag(x.reshape([t * b, f]), w).reshape([t, b, e])
}

/// Per-head layer norm over `[N, H·d]` with gain and bias `[H·d]`.
fn head_norm(x: Tensor<2>, heads: usize, gain: Tensor<1>, bias: Tensor<1>) -> Tensor<2> {
    let [n, f] = x.dims();
    let x = x.reshape([n, heads, f / heads]);
    let xc = x.clone() - x.mean_dim(2);
    let var = xc.clone().powi_scalar(2).mean_dim(2);
    let y = (xc / var.add_scalar(1e-5).sqrt()).reshape([n, f]);
    y * gain.unsqueeze_dim::<2>(0) + bias.unsqueeze_dim::<2>(0)
}

/// Run a causal conv over a whole sequence, returning outputs `[T, B, C]` and the window.
fn conv_seq(
    conv: &CausalConv,
    x: &Tensor<3>,
    start: &Tensor<2>,
    win: Tensor<2>,
) -> (Tensor<3>, Tensor<2>) {
    let mut win = win;
    let mut ys = Vec::with_capacity(x.dims()[0]);
    for t in 0..x.dims()[0] {
        let (y, w2) = conv.step(win, step_at(x, t), &start_at(start, t));
        win = w2;
        ys.push(y);
    }
    (Tensor::stack(ys, 0), win)
}

fn block_param(
    heads: usize,
    d: usize,
    e: usize,
    rng: &mut Rng,
    device: &Device,
) -> Param<Tensor<3>> {
    let v = rng.normals(heads * d * e, (1.0 / d as f64).sqrt());
    Param::from_tensor(Tensor::from_data(TensorData::new(v, [heads, d, e]), device))
}

/// sLSTM cell block.
#[derive(Module, Debug)]
pub struct Slstm {
    /// Input projection F → h.
    pub inp: Linear,
    /// Causal conv feeding the i and f gates.
    pub conv: CausalConv,
    /// Input weights of i, f `[H, d, 2d]` (from the conv branch).
    pub w_if: Param<Tensor<3>>,
    /// Input weights of z, o `[H, d, 2d]`.
    pub w_zo: Param<Tensor<3>>,
    /// Recurrent weights `[H, d, 4d]` (gate order i, f, z, o).
    pub r: Param<Tensor<3>>,
    /// Gate biases `[H·4d]` (per head i, f, z, o).
    pub bias: Param<Tensor<1>>,
    /// Head-norm gain (h).
    pub ln_w: Param<Tensor<1>>,
    /// Head-norm bias (h).
    pub ln_b: Param<Tensor<1>>,
    /// Output projection h → h.
    pub out: Linear,
    /// Hidden width h.
    pub hidden: usize,
    /// Heads H.
    pub heads: usize,
}

impl Slstm {
    /// An sLSTM on `f` features.
    pub fn new(f: usize, hidden: usize, heads: usize, kernel: usize, device: &Device) -> Self {
        let d = hidden / heads;
        let mut rng = Rng::from_device(device);
        let fb = slstm_forget_bias(d);
        let mut bias = vec![0f32; 4 * hidden];
        for h in 0..heads {
            for (j, v) in fb.iter().enumerate() {
                bias[h * 4 * d + d + j] = *v as f32;
            }
        }
        Slstm {
            inp: LinearConfig::new(f, hidden).init(device),
            conv: CausalConv::new(kernel, hidden, device),
            w_if: block_param(heads, d, 2 * d, &mut rng, device),
            w_zo: block_param(heads, d, 2 * d, &mut rng, device),
            r: Param::from_tensor(Tensor::zeros([heads, d, 4 * d], device)),
            bias: param1(bias, device),
            ln_w: param1(vec![1.0; hidden], device),
            ln_b: param1(vec![0.0; hidden], device),
            out: LinearConfig::new(hidden, hidden).init(device),
            hidden,
            heads,
        }
    }

    /// Zero `(c, n, m, h)` and empty conv window.
    pub fn init_carry(&self, batch: usize, device: &Device) -> Carry {
        let z = Tensor::zeros([batch, self.hidden], device);
        Carry::Leaf(vec![
            z.clone(),
            z.clone(),
            z.clone(),
            z,
            self.conv.init_window(batch, device),
        ])
    }

    /// Run over `[T, B, F]`.
    pub fn forward(&self, x: Tensor<3>, start: &Tensor<2>, carry: Carry) -> (Tensor<3>, Carry) {
        let [t_len, b, _] = x.dims();
        let (hh, hid) = (self.heads, self.hidden);
        let d = hid / hh;
        let l = carry.leaves();
        let xi = linear(&self.inp, x);
        let (xc, win) = conv_seq(&self.conv, &xi, start, l[4].clone());
        let wif = blockdiag3(silu(xc), self.w_if.val());
        let wzo = blockdiag3(xi, self.w_zo.val());
        let bias = self.bias.val().reshape([1, hh, 4 * d]);
        let (mut c, mut n, mut m, mut h) = (l[0].clone(), l[1].clone(), l[2].clone(), l[3].clone());
        let mut ys = Vec::with_capacity(t_len);
        for t in 0..t_len {
            let st = start_at(start, t);
            c = reset_rows(c, &st, None);
            n = reset_rows(n, &st, None);
            m = reset_rows(m, &st, None);
            h = reset_rows(h, &st, None);
            let pre_x = Tensor::cat(
                vec![
                    step_at(&wif, t).reshape([b, hh, 2 * d]),
                    step_at(&wzo, t).reshape([b, hh, 2 * d]),
                ],
                2,
            );
            let pre = pre_x + blockdiag(h, self.r.val()).reshape([b, hh, 4 * d]) + bias.clone();
            let gate = |g: usize| pre.clone().narrow(2, g * d, d).reshape([b, hid]);
            let (ig, fg, zg, og) = (gate(0), gate(1), gate(2), gate(3));
            let logf = softplus(fg.neg(), 1.0).neg();
            let m_new = (logf.clone() + m.clone()).max_pair(ig.clone());
            let i_s = (ig - m_new.clone()).exp();
            let f_s = (logf + m - m_new.clone()).exp();
            c = f_s.clone() * c + i_s.clone() * zg.tanh();
            n = f_s * n + i_s;
            m = m_new;
            h = sigmoid(og) * c.clone() / n.clone().clamp_min(EPS);
            ys.push(head_norm(h.clone(), hh, self.ln_w.val(), self.ln_b.val()));
        }
        let y = linear(&self.out, Tensor::stack::<3>(ys, 0));
        (y, Carry::Leaf(vec![c, n, m, h, win]))
    }
}

/// mLSTM cell block.
#[derive(Module, Debug)]
pub struct Mlstm {
    /// Up projection F → 2h (`x_m`, `z`).
    pub up: Linear,
    /// Causal conv on `x_m`.
    pub conv: CausalConv,
    /// Query weights `[H, d, d]`.
    pub wq: Param<Tensor<3>>,
    /// Key weights `[H, d, d]`.
    pub wk: Param<Tensor<3>>,
    /// Value weights `[H, d, d]`.
    pub wv: Param<Tensor<3>>,
    /// Input gate 3h → H.
    pub wi: Linear,
    /// Forget gate 3h → H.
    pub wf: Linear,
    /// Head-norm gain (h).
    pub ln_w: Param<Tensor<1>>,
    /// Head-norm bias (h).
    pub ln_b: Param<Tensor<1>>,
    /// Learnable skip (h).
    pub skip: Param<Tensor<1>>,
    /// Output projection h → h.
    pub out: Linear,
    /// Hidden width h.
    pub hidden: usize,
    /// Heads H.
    pub heads: usize,
}

impl Mlstm {
    /// An mLSTM on `f` features.
    pub fn new(f: usize, hidden: usize, heads: usize, kernel: usize, device: &Device) -> Self {
        let d = hidden / heads;
        let mut rng = Rng::from_device(device);
        let gate = |bias: Vec<f32>| {
            let mut l = LinearConfig::new(3 * hidden, heads).init(device);
            l.weight = Param::from_tensor(Tensor::zeros([3 * hidden, heads], device));
            l.bias = Some(param1(bias, device));
            l
        };
        let fbias = (0..heads)
            .map(|i| {
                if heads > 1 {
                    3.0 + 3.0 * i as f32 / (heads - 1) as f32
                } else {
                    3.0
                }
            })
            .collect();
        Mlstm {
            up: LinearConfig::new(f, 2 * hidden).init(device),
            conv: CausalConv::new(kernel, hidden, device),
            wq: block_param(heads, d, d, &mut rng, device),
            wk: block_param(heads, d, d, &mut rng, device),
            wv: block_param(heads, d, d, &mut rng, device),
            wi: gate(rng.normals(heads, 0.1)),
            wf: gate(fbias),
            ln_w: param1(vec![1.0; hidden], device),
            ln_b: param1(vec![0.0; hidden], device),
            skip: param1(vec![1.0; hidden], device),
            out: LinearConfig::new(hidden, hidden).init(device),
            hidden,
            heads,
        }
    }

    /// Zero `(C, n, m)` and empty conv window.
    pub fn init_carry(&self, batch: usize, device: &Device) -> Carry {
        let d = self.hidden / self.heads;
        Carry::Leaf(vec![
            Tensor::zeros([batch, self.heads * d * d], device),
            Tensor::zeros([batch, self.hidden], device),
            Tensor::zeros([batch, self.heads], device),
            self.conv.init_window(batch, device),
        ])
    }

    /// Run over `[T, B, F]`.
    pub fn forward(&self, x: Tensor<3>, start: &Tensor<2>, carry: Carry) -> (Tensor<3>, Carry) {
        let [t_len, b, _] = x.dims();
        let (hh, hid) = (self.heads, self.hidden);
        let d = hid / hh;
        let l = carry.leaves();
        let upx = linear(&self.up, x);
        let xm = upx.clone().narrow(2, 0, hid);
        let z = upx.narrow(2, hid, hid);
        let (xc, win) = conv_seq(&self.conv, &xm, start, l[3].clone());
        let xc = silu(xc);
        let q = blockdiag3(xc.clone(), self.wq.val());
        let k = blockdiag3(xc.clone(), self.wk.val()).div_scalar((d as f32).sqrt());
        let v = blockdiag3(xm, self.wv.val());
        let qkv = Tensor::cat(vec![q.clone(), k.clone(), v.clone()], 2);
        let ig = linear(&self.wi, qkv.clone());
        let logf = softplus(linear(&self.wf, qkv).neg(), 1.0).neg();
        let (mut cm, mut n, mut m) = (l[0].clone(), l[1].clone(), l[2].clone());
        let mut ys = Vec::with_capacity(t_len);
        for t in 0..t_len {
            let st = start_at(start, t);
            cm = reset_rows(cm, &st, None);
            n = reset_rows(n, &st, None);
            m = reset_rows(m, &st, None);
            let (it, ft) = (step_at(&ig, t), step_at(&logf, t));
            let m_new = (ft.clone() + m.clone()).max_pair(it.clone());
            let i_s = (it - m_new.clone()).exp().reshape([b, hh, 1]);
            let f_s = (ft + m - m_new.clone()).exp().reshape([b, hh, 1]);
            let (qt, kt, vt) = (
                step_at(&q, t).reshape([b, hh, d]),
                step_at(&k, t).reshape([b, hh, d]),
                step_at(&v, t).reshape([b, hh, d]),
            );
            let outer = vt
                .reshape([b, hh, d, 1])
                .matmul(kt.clone().reshape([b, hh, 1, d]));
            let c4 = cm.reshape([b, hh, d, d]) * f_s.clone().unsqueeze_dim::<4>(3)
                + outer * i_s.clone().unsqueeze_dim::<4>(3);
            let n3 = n.reshape([b, hh, d]) * f_s + kt * i_s;
            let num = c4
                .clone()
                .matmul(qt.clone().reshape([b, hh, d, 1]))
                .reshape([b, hh, d]);
            let den = (n3.clone() * qt)
                .sum_dim(2)
                .abs()
                .max_pair(m_new.clone().neg().exp().reshape([b, hh, 1]));
            ys.push((num / den).reshape([b, hid]));
            cm = c4.reshape([b, hh * d * d]);
            n = n3.reshape([b, hid]);
            m = m_new;
        }
        let ht = Tensor::stack::<3>(ys, 0).reshape([t_len * b, hid]);
        let normed = head_norm(ht, hh, self.ln_w.val(), self.ln_b.val()).reshape([t_len, b, hid]);
        let skip = self.skip.val().unsqueeze_dim::<2>(0).unsqueeze_dim::<3>(0);
        let y = linear(&self.out, (normed + xc * skip) * silu(z));
        (y, Carry::Leaf(vec![cm, n, m, win]))
    }
}
