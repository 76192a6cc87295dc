//! Causal depthwise convolution over time whose window of past inputs is carried and reset.
//!
//! The window holds the `K − 1` previous inputs (oldest first, `[B, (K−1)·C]`); it is zeroed
//! before a start step, so an episode never sees inputs of the previous one. Initialisation
//! (PyTorch `Conv1d` default for a depthwise kernel): weight and bias `~ U(±1/√K)`.

use burn::module::{Module, Param};
use burn::prelude::*;
use burn::tensor::Distribution;

use super::carry::reset_rows;

/// Depthwise causal conv with kernel `K` over `C` channels.
#[derive(Module, Debug)]
pub struct CausalConv {
    /// Taps `[K, C]` (tap `K − 1` multiplies the current input).
    pub weight: Param<Tensor<2>>,
    /// Bias `[C]`.
    pub bias: Param<Tensor<1>>,
    /// Kernel size K.
    pub kernel: usize,
    /// Channels C.
    pub channels: usize,
}

impl CausalConv {
    /// A conv with `kernel` taps over `channels`.
    pub fn new(kernel: usize, channels: usize, device: &Device) -> Self {
        let bound = 1.0 / (kernel as f64).sqrt();
        let u = Distribution::Uniform(-bound, bound);
        CausalConv {
            weight: Param::from_tensor(Tensor::random([kernel, channels], u, device)),
            bias: Param::from_tensor(Tensor::random([channels], u, device)),
            kernel,
            channels,
        }
    }

    /// Empty (zero) window.
    pub fn init_window(&self, batch: usize, device: &Device) -> Tensor<2> {
        Tensor::zeros([batch, (self.kernel - 1) * self.channels], device)
    }

    /// One step: reset the window where `start`, convolve `[window; x]`, shift the window.
    pub fn step(
        &self,
        window: Tensor<2>,
        x: Tensor<2>,
        start: &Tensor<1>,
    ) -> (Tensor<2>, Tensor<2>) {
        let (k, c) = (self.kernel, self.channels);
        let b = x.dims()[0];
        let w = self.weight.val().unsqueeze_dim::<3>(0);
        let bias = self.bias.val().unsqueeze_dim::<2>(0);
        if k == 1 {
            let y = x * w.reshape([1, c]) + bias;
            return (y, window);
        }
        let win = reset_rows(window, start, None).reshape([b, k - 1, c]);
        let full = Tensor::cat(vec![win, x.reshape([b, 1, c])], 1);
        let y = (full.clone() * w).sum_dim(1).reshape([b, c]) + bias;
        let next = full.narrow(1, 1, k - 1).reshape([b, (k - 1) * c]);
        (y, next)
    }
}
