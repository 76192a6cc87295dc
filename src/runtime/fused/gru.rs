//! Whole-sequence GRU kernels over contiguous row-major f32 buffers.
//!
//! Gate order is (r, z, n). With `p = h·W_h + b_h` split the same way:
//! `r = σ(gx_r + p_r)`, `z = σ(gx_z + p_z)`, `n = tanh(gx_n + r ⊙ p_n)`, `h' = (1 − z) ⊙ n + z ⊙ h`,
//! where `h` is the previous state multiplied by `1 − reset[t]` (a reset zeroes it).

use super::Dims;
use super::math::{self, Mat, simd_entry};

/// Borrowed inputs of a GRU sequence (shapes as in [`super::gru_sequence`]).
#[derive(Clone, Copy)]
pub(crate) struct GruInputs<'a> {
    /// `[T, B, 3H]` input projections.
    pub gx: &'a [f32],
    /// `[H, 3H]` recurrent weights.
    pub wh: &'a [f32],
    /// `[3H]` recurrent bias.
    pub bh: &'a [f32],
    /// `[B, H]` initial state.
    pub h0: &'a [f32],
    /// `[T, B]` reset flags.
    pub reset: &'a [f32],
}

impl GruInputs<'_> {
    fn check(&self, d: Dims) {
        let (t, b, h) = (d.t, d.b, d.h);
        assert_eq!(self.gx.len(), t * b * 3 * h, "gru: gx must be [T, B, 3H]");
        assert_eq!(self.wh.len(), h * 3 * h, "gru: wh must be [H, 3H]");
        assert_eq!(self.bh.len(), 3 * h, "gru: bh must be [3H]");
        assert_eq!(self.h0.len(), b * h, "gru: h0 must be [B, H]");
        assert_eq!(self.reset.len(), t * b, "gru: reset must be [T, B]");
    }
}

/// Activations saved by a training forward pass for [`gru_backward`].
#[derive(Debug, Default, Clone)]
pub(crate) struct GruTape {
    /// Gate activations (r, z, n): `[T, B, 3H]`.
    pub gates: Vec<f32>,
    /// `h·W_hn + b_hn` (the candidate's recurrent term before `r ⊙`): `[T, B, H]`.
    pub hn: Vec<f32>,
    /// The state each step consumed, after its reset: `[T, B, H]`.
    pub h_prev: Vec<f32>,
}

/// Gradients of a GRU sequence with respect to its differentiable inputs.
#[derive(Debug, Default, Clone)]
pub(crate) struct GruGrads {
    /// `[T, B, 3H]`.
    pub dgx: Vec<f32>,
    /// `[H, 3H]`.
    pub dwh: Vec<f32>,
    /// `[3H]`.
    pub dbh: Vec<f32>,
    /// `[B, H]`.
    pub dh0: Vec<f32>,
}

/// Runs the sequence forward and returns `hs: [T, B, H]`; with `tape`, also records what the
/// backward pass needs.
pub(crate) fn gru_forward(d: Dims, x: GruInputs<'_>, tape: Option<&mut GruTape>) -> Vec<f32> {
    x.check(d);
    let mut hs = vec![0.0; d.t * d.b * d.h];
    match tape {
        Some(tape) => {
            let steps = d.t;
            tape.gates.resize(steps * d.b * 3 * d.h, 0.0);
            tape.hn.resize(steps * d.b * d.h, 0.0);
            tape.h_prev.resize(steps * d.b * d.h, 0.0);
            forward_entry(
                d,
                x,
                &mut hs,
                &mut tape.gates,
                &mut tape.hn,
                &mut tape.h_prev,
                true,
            );
        }
        None => {
            let mut gates = vec![0.0; d.b * 3 * d.h];
            let mut hn = vec![0.0; d.b * d.h];
            let mut h_prev = vec![0.0; d.b * d.h];
            forward_entry(d, x, &mut hs, &mut gates, &mut hn, &mut h_prev, false);
        }
    }
    hs
}

simd_entry! {
    fn forward_entry(
        d: Dims,
        x: GruInputs<'_>,
        hs: &mut [f32],
        gates: &mut [f32],
        hn: &mut [f32],
        h_prev: &mut [f32],
        per_step: bool,
    ) => forward_impl
}

/// The forward loop. `gates`, `hn`, `h_prev` hold every step when `per_step`, else one step
/// that is overwritten each time.
#[inline(always)]
fn forward_impl(
    d: Dims,
    x: GruInputs<'_>,
    hs: &mut [f32],
    gates: &mut [f32],
    hn: &mut [f32],
    h_prev: &mut [f32],
    per_step: bool,
) {
    let (b, h) = (d.b, d.h);
    let (h2, h3) = (2 * h, 3 * h);
    let mut pre = vec![0.0f32; b * h3];
    for t in 0..d.t {
        let s = if per_step { t } else { 0 };
        let hp = &mut h_prev[s * b * h..(s + 1) * b * h];
        let (done, rest) = hs.split_at_mut(t * b * h);
        let out = &mut rest[..b * h];
        let prev = if t == 0 {
            x.h0
        } else {
            &done[(t - 1) * b * h..]
        };
        for row in 0..b {
            let keep = 1.0 - x.reset[t * b + row];
            let (dst, src) = (
                &mut hp[row * h..(row + 1) * h],
                &prev[row * h..(row + 1) * h],
            );
            for (o, i) in dst.iter_mut().zip(src) {
                *o = *i * keep;
            }
        }
        for row in pre.chunks_exact_mut(h3) {
            row.copy_from_slice(x.bh);
        }
        math::matmul(&mut pre, Mat::rows(hp, b, h), Mat::rows(x.wh, h, h3), true);

        let g_step = &mut gates[s * b * h3..(s + 1) * b * h3];
        let hn_step = &mut hn[s * b * h..(s + 1) * b * h];
        let gx_step = &x.gx[t * b * h3..(t + 1) * b * h3];
        for row in 0..b {
            let g = &mut g_step[row * h3..(row + 1) * h3];
            let p = &pre[row * h3..(row + 1) * h3];
            let gxr = &gx_step[row * h3..(row + 1) * h3];
            for c in 0..h2 {
                g[c] = gxr[c] + p[c];
            }
            math::sigmoid_in_place(&mut g[..h2]);
            let (rz, n) = g.split_at_mut(h2);
            let (r, pn, gxn) = (&rz[..h], &p[h2..h3], &gxr[h2..h3]);
            let n = &mut n[..h];
            for j in 0..h {
                n[j] = gxn[j] + r[j] * pn[j];
            }
            math::tanh_in_place(n);
            hn_step[row * h..(row + 1) * h].copy_from_slice(pn);
            let z = &rz[h..h2];
            let hpr = &hp[row * h..(row + 1) * h];
            let o = &mut out[row * h..(row + 1) * h];
            for j in 0..h {
                o[j] = (1.0 - z[j]) * n[j] + z[j] * hpr[j];
            }
        }
    }
}

/// Back-propagates `dhs = ∂L/∂hs` (`[T, B, H]`) through the recorded sequence.
pub(crate) fn gru_backward(
    d: Dims,
    wh: &[f32],
    reset: &[f32],
    tape: &GruTape,
    dhs: &[f32],
) -> GruGrads {
    let (t, b, h) = (d.t, d.b, d.h);
    assert_eq!(dhs.len(), t * b * h, "gru backward: dhs must be [T, B, H]");
    assert_eq!(
        tape.gates.len(),
        t * b * 3 * h,
        "gru backward: tape does not match dims"
    );
    let mut grads = GruGrads {
        dgx: vec![0.0; t * b * 3 * h],
        dwh: vec![0.0; h * 3 * h],
        dbh: vec![0.0; 3 * h],
        dh0: vec![0.0; b * h],
    };
    let mut dgh = vec![0.0; t * b * 3 * h];
    backward_entry(d, wh, reset, tape, dhs, &mut grads, &mut dgh);
    grads
}

simd_entry! {
    fn backward_entry(
        d: Dims,
        wh: &[f32],
        reset: &[f32],
        tape: &GruTape,
        dhs: &[f32],
        grads: &mut GruGrads,
        dgh: &mut [f32],
    ) => backward_impl
}

/// The reverse-time loop. `dgh` receives `∂L/∂(h·W_h + b_h)` for every step; the weight and
/// bias gradients are reduced from it after the loop with one matrix product.
#[inline(always)]
fn backward_impl(
    d: Dims,
    wh: &[f32],
    reset: &[f32],
    tape: &GruTape,
    dhs: &[f32],
    grads: &mut GruGrads,
    dgh: &mut [f32],
) {
    let (b, h) = (d.b, d.h);
    let (h2, h3) = (2 * h, 3 * h);
    // ∂L/∂h flowing into step t from step t + 1 (already through its reset).
    let mut carry = vec![0.0f32; b * h];
    // `W_hᵀ` laid out row-major, so that each step's product reads it row by row.
    let wht = math::transpose(wh, h, h3);
    for t in (0..d.t).rev() {
        let dh_step = &dhs[t * b * h..(t + 1) * b * h];
        for row in 0..b {
            let at = (t * b + row) * h3;
            let g = &tape.gates[at..at + h3];
            let (r, z, n) = (&g[..h], &g[h..h2], &g[h2..h3]);
            let hs_at = (t * b + row) * h;
            let hp = &tape.h_prev[hs_at..hs_at + h];
            let hn = &tape.hn[hs_at..hs_at + h];
            let dh_out = &dh_step[row * h..(row + 1) * h];
            let c = &mut carry[row * h..(row + 1) * h];
            let (dgx_r, rest) = grads.dgx[at..at + h3].split_at_mut(h);
            let (dgx_z, dgx_n) = rest.split_at_mut(h);
            let (dgh_r, rest) = dgh[at..at + h3].split_at_mut(h);
            let (dgh_z, dgh_n) = rest.split_at_mut(h);
            for j in 0..h {
                let dh = dh_out[j] + c[j];
                let dn = dh * (1.0 - z[j]) * (1.0 - n[j] * n[j]);
                let dz = dh * (hp[j] - n[j]) * z[j] * (1.0 - z[j]);
                let dr = dn * hn[j] * r[j] * (1.0 - r[j]);
                dgx_r[j] = dr;
                dgx_z[j] = dz;
                dgx_n[j] = dn;
                dgh_r[j] = dr;
                dgh_z[j] = dz;
                dgh_n[j] = dn * r[j];
                c[j] = dh * z[j];
            }
        }
        let dgh_step = &dgh[t * b * h3..(t + 1) * b * h3];
        math::matmul(
            &mut carry,
            Mat::rows(dgh_step, b, h3),
            Mat::rows(&wht, h3, h),
            true,
        );
        for row in 0..b {
            let keep = 1.0 - reset[t * b + row];
            for v in &mut carry[row * h..(row + 1) * h] {
                *v *= keep;
            }
        }
    }
    grads.dh0.copy_from_slice(&carry);
    math::add_column_sums(&mut grads.dbh, dgh);
    let rows = d.t * b;
    math::matmul(
        &mut grads.dwh,
        Mat::transposed(&tape.h_prev, rows, h),
        Mat::rows(dgh, rows, h3),
        false,
    );
}
