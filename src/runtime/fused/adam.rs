//! The Adam/AdamW parameter update as one vectorisable loop over host buffers.

use super::math::simd_entry;

/// The per-step constants of one Adam update.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    /// First-moment decay β₁.
    pub beta1: f32,
    /// Second-moment decay β₂.
    pub beta2: f32,
    /// `1 − β₁ᵗ` (bias correction of the first moment).
    pub bc1: f32,
    /// `1 − β₂ᵗ` (bias correction of the second moment).
    pub bc2: f32,
    /// Denominator epsilon.
    pub eps: f32,
    /// Learning rate.
    pub lr: f32,
    /// Factor applied to the parameter before the step (`1 − lr·weight_decay` for AdamW, else 1).
    pub decay: f32,
    /// Factor applied to the gradient (global-norm clipping).
    pub grad_scale: f32,
}

#[inline(always)]
fn update_impl(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: AdamStep) {
    let n = p.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    let (a1, a2) = (1.0 - s.beta1, 1.0 - s.beta2);
    let (inv_bc1, inv_bc2) = (1.0 / s.bc1, 1.0 / s.bc2);
    for i in 0..n {
        let gi = g[i] * s.grad_scale;
        let mi = s.beta1 * m[i] + a1 * gi;
        let vi = s.beta2 * v[i] + a2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * s.decay - s.lr * (mi * inv_bc1) / ((vi * inv_bc2).sqrt() + s.eps);
    }
}

simd_entry!(
    /// `m ← β₁m + (1−β₁)g'`, `v ← β₂v + (1−β₂)g'²`, `p ← decay·p − lr·m̂/(√v̂ + ε)` with
    /// `g' = grad_scale·g`, `m̂ = m/bc1`, `v̂ = v/bc2`; every slice as long as `p`.
    pub fn adam_update(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: AdamStep) => update_impl
);
