//! Whole-sequence LSTM kernels over contiguous row-major f32 buffers.
//!
//! Gate order is (i, f, g, o). With `a = gx + h·W_h + b_h`: `i, f, o = σ(a_i, a_f, a_o)`,
//! `g = tanh(a_g)`, `c' = f ⊙ c + i ⊙ g`, `h' = o ⊙ tanh(c')`, where `h` and `c` are the previous
//! state multiplied by `1 − reset[t]`.
//!
//! The op's single output packs both sequences as `[2, T, B, H]` (`hs` then `cs`).

use super::Dims;
use super::math::{self, Mat, simd_entry};

/// Borrowed inputs of an LSTM sequence (shapes as in [`super::lstm_sequence`]).
#[derive(Clone, Copy)]
pub(crate) struct LstmInputs<'a> {
    /// `[T, B, 4H]` input projections.
    pub gx: &'a [f32],
    /// `[H, 4H]` recurrent weights.
    pub wh: &'a [f32],
    /// `[4H]` recurrent bias.
    pub bh: &'a [f32],
    /// `[B, H]` initial hidden state.
    pub h0: &'a [f32],
    /// `[B, H]` initial cell state.
    pub c0: &'a [f32],
    /// `[T, B]` reset flags.
    pub reset: &'a [f32],
}

impl LstmInputs<'_> {
    fn check(&self, d: Dims) {
        let (t, b, h) = (d.t, d.b, d.h);
        assert_eq!(self.gx.len(), t * b * 4 * h, "lstm: gx must be [T, B, 4H]");
        assert_eq!(self.wh.len(), h * 4 * h, "lstm: wh must be [H, 4H]");
        assert_eq!(self.bh.len(), 4 * h, "lstm: bh must be [4H]");
        assert_eq!(self.h0.len(), b * h, "lstm: h0 must be [B, H]");
        assert_eq!(self.c0.len(), b * h, "lstm: c0 must be [B, H]");
        assert_eq!(self.reset.len(), t * b, "lstm: reset must be [T, B]");
    }
}

/// Activations saved by a training forward pass for [`lstm_backward`].
#[derive(Debug, Default, Clone)]
pub(crate) struct LstmTape {
    /// Gate activations (i, f, g, o): `[T, B, 4H]`.
    pub gates: Vec<f32>,
    /// `tanh(c')` per step: `[T, B, H]`.
    pub tc: Vec<f32>,
    /// The hidden state each step consumed, after its reset: `[T, B, H]`.
    pub h_prev: Vec<f32>,
    /// The cell state each step consumed, after its reset: `[T, B, H]`.
    pub c_prev: Vec<f32>,
}

/// Gradients of an LSTM sequence with respect to its differentiable inputs.
#[derive(Debug, Default, Clone)]
pub(crate) struct LstmGrads {
    /// `[T, B, 4H]`.
    pub dgx: Vec<f32>,
    /// `[H, 4H]`.
    pub dwh: Vec<f32>,
    /// `[4H]`.
    pub dbh: Vec<f32>,
    /// `[B, H]`.
    pub dh0: Vec<f32>,
    /// `[B, H]`.
    pub dc0: Vec<f32>,
}

/// Runs the sequence forward and returns `[2, T, B, H]` (`hs` then `cs`); with `tape`, also
/// records what the backward pass needs.
pub(crate) fn lstm_forward(d: Dims, x: LstmInputs<'_>, tape: Option<&mut LstmTape>) -> Vec<f32> {
    x.check(d);
    let mut out = vec![0.0; 2 * d.t * d.b * d.h];
    let (g, s) = (d.b * 4 * d.h, d.b * d.h);
    match tape {
        Some(tape) => {
            tape.gates.resize(d.t * g, 0.0);
            tape.tc.resize(d.t * s, 0.0);
            tape.h_prev.resize(d.t * s, 0.0);
            tape.c_prev.resize(d.t * s, 0.0);
            let LstmTape {
                gates,
                tc,
                h_prev,
                c_prev,
            } = tape;
            forward_entry(d, x, &mut out, gates, tc, h_prev, c_prev, true);
        }
        None => {
            let (mut gates, mut tc) = (vec![0.0; g], vec![0.0; s]);
            let (mut h_prev, mut c_prev) = (vec![0.0; s], vec![0.0; s]);
            forward_entry(
                d,
                x,
                &mut out,
                &mut gates,
                &mut tc,
                &mut h_prev,
                &mut c_prev,
                false,
            );
        }
    }
    out
}

simd_entry! {
    #[allow(clippy::too_many_arguments)]
    fn forward_entry(
        d: Dims,
        x: LstmInputs<'_>,
        out: &mut [f32],
        gates: &mut [f32],
        tc: &mut [f32],
        h_prev: &mut [f32],
        c_prev: &mut [f32],
        per_step: bool,
    ) => forward_impl
}

/// The forward loop. The tape buffers hold every step when `per_step`, else one step that is
/// overwritten each time.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_impl(
    d: Dims,
    x: LstmInputs<'_>,
    out: &mut [f32],
    gates: &mut [f32],
    tc: &mut [f32],
    h_prev: &mut [f32],
    c_prev: &mut [f32],
    per_step: bool,
) {
    let (b, h) = (d.b, d.h);
    let (h2, h3, h4) = (2 * h, 3 * h, 4 * h);
    let sz = b * h;
    let (hs, cs) = out.split_at_mut(d.t * sz);
    for t in 0..d.t {
        let s = if per_step { t } else { 0 };
        let hp = &mut h_prev[s * sz..(s + 1) * sz];
        let cp = &mut c_prev[s * sz..(s + 1) * sz];
        {
            let prev_h = if t == 0 {
                x.h0
            } else {
                &hs[(t - 1) * sz..t * sz]
            };
            let prev_c = if t == 0 {
                x.c0
            } else {
                &cs[(t - 1) * sz..t * sz]
            };
            for row in 0..b {
                let keep = 1.0 - x.reset[t * b + row];
                let r = row * h..(row + 1) * h;
                for (o, i) in hp[r.clone()].iter_mut().zip(&prev_h[r.clone()]) {
                    *o = *i * keep;
                }
                for (o, i) in cp[r.clone()].iter_mut().zip(&prev_c[r]) {
                    *o = *i * keep;
                }
            }
        }
        // a = gx + b_h + h·W_h, written straight into the gate buffer and activated in place.
        let g_step = &mut gates[s * b * h4..(s + 1) * b * h4];
        let gx_step = &x.gx[t * b * h4..(t + 1) * b * h4];
        for (g, gx) in g_step.chunks_exact_mut(h4).zip(gx_step.chunks_exact(h4)) {
            for c in 0..h4 {
                g[c] = gx[c] + x.bh[c];
            }
        }
        math::matmul(g_step, Mat::rows(hp, b, h), Mat::rows(x.wh, h, h4), true);
        let tc_step = &mut tc[s * sz..(s + 1) * sz];
        let hs_t = &mut hs[t * sz..(t + 1) * sz];
        let cs_t = &mut cs[t * sz..(t + 1) * sz];
        for row in 0..b {
            let g = &mut g_step[row * h4..(row + 1) * h4];
            math::sigmoid_in_place(&mut g[..h2]);
            math::tanh_in_place(&mut g[h2..h3]);
            math::sigmoid_in_place(&mut g[h3..h4]);
            let (i, f, gg, o) = (&g[..h], &g[h..h2], &g[h2..h3], &g[h3..h4]);
            let r = row * h..(row + 1) * h;
            let (cpr, cn, hn) = (&cp[r.clone()], &mut cs_t[r.clone()], &mut hs_t[r.clone()]);
            let tcr = &mut tc_step[r];
            for j in 0..h {
                cn[j] = f[j] * cpr[j] + i[j] * gg[j];
            }
            tcr.copy_from_slice(cn);
            math::tanh_in_place(tcr);
            for j in 0..h {
                hn[j] = o[j] * tcr[j];
            }
        }
    }
}

/// Back-propagates `dout = ∂L/∂[hs; cs]` (`[2, T, B, H]`) through the recorded sequence.
pub(crate) fn lstm_backward(
    d: Dims,
    wh: &[f32],
    reset: &[f32],
    tape: &LstmTape,
    dout: &[f32],
) -> LstmGrads {
    let (t, b, h) = (d.t, d.b, d.h);
    assert_eq!(
        dout.len(),
        2 * t * b * h,
        "lstm backward: dout must be [2, T, B, H]"
    );
    assert_eq!(
        tape.gates.len(),
        t * b * 4 * h,
        "lstm backward: tape does not match dims"
    );
    let mut grads = LstmGrads {
        dgx: vec![0.0; t * b * 4 * h],
        dwh: vec![0.0; h * 4 * h],
        dbh: vec![0.0; 4 * h],
        dh0: vec![0.0; b * h],
        dc0: vec![0.0; b * h],
    };
    backward_entry(d, wh, reset, tape, dout, &mut grads);
    grads
}

simd_entry! {
    fn backward_entry(
        d: Dims,
        wh: &[f32],
        reset: &[f32],
        tape: &LstmTape,
        dout: &[f32],
        grads: &mut LstmGrads,
    ) => backward_impl
}

/// The reverse-time loop. The gate pre-activation gradient equals `dgx` (and the gradient of
/// `h·W_h + b_h`), so the weight and bias gradients are reduced from `dgx` after the loop.
#[inline(always)]
fn backward_impl(
    d: Dims,
    wh: &[f32],
    reset: &[f32],
    tape: &LstmTape,
    dout: &[f32],
    grads: &mut LstmGrads,
) {
    let (b, h) = (d.b, d.h);
    let (h2, h3, h4) = (2 * h, 3 * h, 4 * h);
    let sz = b * h;
    let (dhs, dcs) = dout.split_at(d.t * sz);
    // ∂L/∂h and ∂L/∂c flowing into step t from step t + 1 (already through its reset).
    let mut carry_h = vec![0.0f32; sz];
    let mut carry_c = vec![0.0f32; sz];
    // `W_hᵀ` laid out row-major, so that each step's product reads it row by row.
    let wht = math::transpose(wh, h, h4);
    for t in (0..d.t).rev() {
        for row in 0..b {
            let at = (t * b + row) * h4;
            let g = &tape.gates[at..at + h4];
            let (i, f, gg, o) = (&g[..h], &g[h..h2], &g[h2..h3], &g[h3..h4]);
            let s_at = (t * b + row) * h;
            let r = s_at..s_at + h;
            let (tc, cp) = (&tape.tc[r.clone()], &tape.c_prev[r.clone()]);
            let (dh_out, dc_out) = (&dhs[r.clone()], &dcs[r]);
            let ch = &carry_h[row * h..(row + 1) * h];
            let cc = &mut carry_c[row * h..(row + 1) * h];
            let (di, rest) = grads.dgx[at..at + h4].split_at_mut(h);
            let (df, rest) = rest.split_at_mut(h);
            let (dg, d_o) = rest.split_at_mut(h);
            for j in 0..h {
                let dh = dh_out[j] + ch[j];
                let dc = dc_out[j] + cc[j] + dh * o[j] * (1.0 - tc[j] * tc[j]);
                d_o[j] = dh * tc[j] * o[j] * (1.0 - o[j]);
                di[j] = dc * gg[j] * i[j] * (1.0 - i[j]);
                dg[j] = dc * i[j] * (1.0 - gg[j] * gg[j]);
                df[j] = dc * cp[j] * f[j] * (1.0 - f[j]);
                cc[j] = dc * f[j];
            }
        }
        let dg_step = &grads.dgx[t * b * h4..(t + 1) * b * h4];
        math::matmul(
            &mut carry_h,
            Mat::rows(dg_step, b, h4),
            Mat::rows(&wht, h4, h),
            false,
        );
        for row in 0..b {
            let keep = 1.0 - reset[t * b + row];
            for v in &mut carry_h[row * h..(row + 1) * h] {
                *v *= keep;
            }
            for v in &mut carry_c[row * h..(row + 1) * h] {
                *v *= keep;
            }
        }
    }
    grads.dh0.copy_from_slice(&carry_h);
    grads.dc0.copy_from_slice(&carry_c);
    math::add_column_sums(&mut grads.dbh, &grads.dgx);
    let rows = d.t * b;
    math::matmul(
        &mut grads.dwh,
        Mat::transposed(&tape.h_prev, rows, h),
        Mat::rows(&grads.dgx, rows, h4),
        false,
    );
}
