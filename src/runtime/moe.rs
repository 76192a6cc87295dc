//! `moe(expert, experts, top_k, balance)`: a softmax top-k mixture of independent experts.
//!
//! Dense evaluation: every expert runs on every step and keeps its own carry, so memory experts
//! see an unbroken stream; the router's top-k probabilities (renormalised) mix their outputs.
//! The Switch-style load-balancing loss `balance · E · Σ_e f_e P_e` (`f_e`: share of routing
//! slots given to expert `e`, `P_e`: its mean router probability) is pushed into the [`Ctx`] and
//! added to the training loss by the algorithms.

use super::basic::linear;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::carry::Carry;
use super::layer::{Ctx, Layer};

/// The mixture-of-experts block.
#[derive(Module, Debug)]
pub struct Moe {
    /// Router `F → E`.
    pub router: Linear,
    /// The experts (independent parameters).
    pub experts: Vec<Layer>,
    /// Experts mixed per step.
    pub top_k: usize,
    /// Weight of the load-balancing loss.
    pub balance: f64,
}

impl Moe {
    /// One carry per expert.
    pub fn init_carry(&self, batch: usize, device: &Device, ctx: &Ctx) -> Carry {
        Carry::Tuple(
            self.experts
                .iter()
                .map(|e| e.init_carry(batch, device, ctx))
                .collect(),
        )
    }

    /// Router gates `[T, B, E]` (top-k, renormalised) and the full probabilities.
    pub fn gates(&self, x: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
        let e = self.experts.len();
        let probs = softmax(linear(&self.router, x), 2);
        let k = self.top_k.clamp(1, e);
        if k == e {
            return (probs.clone(), probs);
        }
        let kth = probs
            .clone()
            .detach()
            .sort_descending(2)
            .narrow(2, k - 1, 1);
        let mask = probs.clone().detach().greater_equal(kth).float();
        let kept = probs.clone() * mask;
        let norm = kept.clone().sum_dim(2).clamp_min(1e-9);
        (kept / norm, probs)
    }

    /// Run over `[T, B, F]`.
    pub fn forward(
        &self,
        x: Tensor<3>,
        start: &Tensor<2>,
        carry: Carry,
        ctx: &Ctx,
    ) -> (Tensor<3>, Carry) {
        let (gates, probs) = self.gates(x.clone());
        let e = self.experts.len();
        let mut out: Option<Tensor<3>> = None;
        let mut carries = Vec::with_capacity(e);
        for (i, expert) in self.experts.iter().enumerate() {
            let (y, c) = expert.forward(x.clone(), start, carry.child(i), ctx);
            let g = gates.clone().narrow(2, i, 1);
            let term = y * g;
            out = Some(match out {
                Some(acc) => acc + term,
                None => term,
            });
            carries.push(c);
        }
        if self.balance > 0.0 {
            let [t, b, _] = probs.dims();
            let routed = gates.detach().greater_elem(0.0).float();
            let share = routed.reshape([t * b, e]).mean_dim(0) / (self.top_k.clamp(1, e) as f64);
            let mean_p = probs.reshape([t * b, e]).mean_dim(0);
            let loss = (share * mean_p).sum().mul_scalar(self.balance * e as f64);
            ctx.aux.borrow_mut().push(loss.reshape([1]));
        }
        (out.expect("at least one expert"), Carry::Tuple(carries))
    }
}
