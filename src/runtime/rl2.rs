//! `rl2(x, steps_per_trial)`: RL² trials. The wrapped block's memory survives episode ends and is
//! reset only at trial boundaries, every `steps_per_trial` steps of each environment.
//!
//! The carry is `(carry of x, step)`, where `step: [B, 1]` counts the steps taken in the current
//! trial; a step with `step = 0` starts a trial. Episode `start` flags are deliberately not passed
//! to the wrapped block (that is the point of RL²), so memory leaks across episodes within a trial
//! and never across trials.

use burn::prelude::*;

use super::carry::Carry;
use super::layer::{Ctx, Layer};

/// The RL² wrapper.
#[derive(Module, Debug)]
pub struct Rl2 {
    /// The wrapped block (exactly one element).
    pub inner: Vec<Layer>,
    /// Steps per trial.
    pub steps_per_trial: usize,
}

impl Rl2 {
    /// Initial carry: the inner block's, and a zero step counter (the next step starts a trial).
    pub fn init_carry(&self, batch: usize, device: &Device, ctx: &Ctx) -> Carry {
        Carry::Tuple(vec![
            self.inner[0].init_carry(batch, device, ctx),
            Carry::Leaf(vec![Tensor::zeros([batch, 1], device)]),
        ])
    }

    /// Run over `[T, B, F]`: trial-start flags from the counter replace the episode starts.
    pub fn forward(&self, x: Tensor<3>, carry: Carry, ctx: &Ctx) -> (Tensor<3>, Carry) {
        let [t_len, b, _] = x.dims();
        let device = x.device();
        let counter = carry.child(1).leaves()[0].clone();
        let mut steps: Vec<usize> = counter
            .clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 counter")
            .into_iter()
            .map(|v| v.max(0.0).round() as usize)
            .collect();
        let spt = self.steps_per_trial.max(1);
        let mut trial_start = vec![0.0f32; t_len * b];
        for t in 0..t_len {
            for (i, s) in steps.iter_mut().enumerate() {
                if *s % spt == 0 {
                    trial_start[t * b + i] = 1.0;
                }
                *s = (*s + 1) % spt;
            }
        }
        let starts = Tensor::<2>::from_data(TensorData::new(trial_start, [t_len, b]), &device);
        let (y, inner) = self.inner[0].forward(x, &starts, carry.child(0), ctx);
        let next: Vec<f32> = steps.into_iter().map(|s| s as f32).collect();
        let next = Tensor::<2>::from_data(TensorData::new(next, [b, 1]), &counter.device());
        (y, Carry::Tuple(vec![inner, Carry::Leaf(vec![next])]))
    }
}
