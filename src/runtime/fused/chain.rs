//! A chain of dense layers (an `mlp` encoder and a linear head) run forward and backward on host
//! buffers, outside burn's autodiff graph.
//!
//! A DQN gradient step at batch 64 through a 4-120-84-2 network spent more time in per-op
//! framework work (tensor creation, graph recording and traversal, gradient maps) than in its
//! six matrix products. Here a training step is the products, the bias and activation passes and
//! nothing else; the same kernels as the fused dense op do the arithmetic. The chain holds its
//! own copy of the parameters, which a host optimizer can update in place
//! ([`DenseChain::params_mut`]) and [`DenseChain::write_to`] puts back into the model.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::nn::Linear;
use burn::tensor::Tensor;

use super::dense::DenseAct;
use super::fork::Fork;
use super::math::{Mat, add_column_sums, add_to_rows, product};
use super::{f32s, plain_flex};

/// One layer, `act(x·w + b)`, with its own copy of the parameters.
struct Layer {
    w: Vec<f32>,
    b: Option<Vec<f32>>,
    ids: (ParamId, Option<ParamId>),
    inputs: usize,
    outputs: usize,
    act: DenseAct,
}

/// A dense chain read from a network's parameters (see [`DenseChain::new`]).
pub struct DenseChain {
    layers: Vec<Layer>,
}

/// What [`DenseChain::backward`] needs from a training forward pass.
pub struct ChainTape {
    rows: usize,
    /// Each layer's input.
    inputs: Vec<Vec<f32>>,
    /// Each layer's output, or its pre-activation where the activation's derivative needs it.
    saved: Vec<Vec<f32>>,
}

impl DenseChain {
    /// The chain of `(linear, activation)` layers, holding a copy of their parameters, or `None`
    /// when a parameter is not a plain f32 tensor of the embedded CPU backend (then the caller
    /// keeps to burn ops).
    pub fn new(layers: &[(&Linear, &str)]) -> Option<DenseChain> {
        let mut out = Vec::with_capacity(layers.len());
        let host = |t: Tensor<1>| plain_flex(t).map(|f| f32s(&f).to_vec());
        for (l, act) in layers {
            let [inputs, outputs] = l.weight.dims();
            let w = host(l.weight.val().inner().reshape([inputs * outputs]))?;
            let b = match &l.bias {
                Some(b) => Some(host(b.val().inner())?),
                None => None,
            };
            out.push(Layer {
                w,
                b,
                ids: (l.weight.id, l.bias.as_ref().map(|b| b.id)),
                inputs,
                outputs,
                act: DenseAct::by_name(act),
            });
        }
        Some(DenseChain { layers: out })
    }

    /// Width of the input.
    pub fn inputs(&self) -> usize {
        self.layers.first().map_or(0, |l| l.inputs)
    }

    /// The parameters by id, in the model's visit order (each weight, then its bias).
    pub fn params_mut(&mut self) -> Vec<(ParamId, &mut [f32])> {
        let mut out = Vec::with_capacity(2 * self.layers.len());
        for l in &mut self.layers {
            out.push((l.ids.0, &mut l.w[..]));
            if let (Some(id), Some(b)) = (l.ids.1, &mut l.b) {
                out.push((id, &mut b[..]));
            }
        }
        out
    }

    /// `model` with the chain's parameter values written into the parameters of the same ids
    /// (tracked ones stay tracked).
    pub fn write_to<M: Module>(&self, model: M) -> M {
        struct Writer<'a>(HashMap<ParamId, &'a [f32]>);
        impl ModuleMapper for Writer<'_> {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let (id, tensor, mapper) = param.consume();
                let Some(values) = self.0.get(&id) else {
                    return Param::from_mapped_value(id, tensor, mapper);
                };
                let t = super::host_param_tensor(
                    values.to_vec(),
                    tensor.shape(),
                    &tensor.device(),
                    tensor.is_require_grad(),
                );
                Param::from_mapped_value(id, t, mapper)
            }
        }
        let mut values = HashMap::new();
        for l in &self.layers {
            values.insert(l.ids.0, &l.w[..]);
            if let (Some(id), Some(b)) = (l.ids.1, &l.b) {
                values.insert(id, &b[..]);
            }
        }
        model.map(&mut Writer(values))
    }

    /// `x: [rows, inputs]` (row-major) through every layer: `[rows, outputs]`.
    pub fn forward(&self, x: Vec<f32>, rows: usize) -> Vec<f32> {
        self.run(x, rows, None)
    }

    /// [`DenseChain::forward`] that also records what the backward pass needs.
    pub fn train_forward(&self, x: Vec<f32>, rows: usize) -> (Vec<f32>, ChainTape) {
        let mut tape = ChainTape {
            rows,
            inputs: Vec::with_capacity(self.layers.len()),
            saved: Vec::with_capacity(self.layers.len()),
        };
        let y = self.run(x, rows, Some(&mut tape));
        (y, tape)
    }

    fn run(&self, x: Vec<f32>, rows: usize, mut tape: Option<&mut ChainTape>) -> Vec<f32> {
        assert_eq!(
            x.len(),
            rows * self.inputs(),
            "dense chain: input is not [rows, inputs]"
        );
        let mut h = x;
        for l in &self.layers {
            let mut z = product(
                Mat::rows(&h, rows, l.inputs),
                Mat::rows(&l.w, l.inputs, l.outputs),
            );
            if let Some(b) = &l.b {
                add_to_rows(&mut z, b);
            }
            let (y, pre) = l.act.activate(z);
            if let Some(t) = tape.as_deref_mut() {
                t.inputs.push(h);
                t.saved.push(pre.unwrap_or_else(|| y.clone()));
            }
            h = y;
        }
        h
    }

    /// Back-propagates `dy = ∂L/∂output` (`[rows, outputs]`) through the recorded pass: the
    /// gradient of every parameter, by id. With `fork`, each layer's weight and bias gradients
    /// are computed on the helper thread while this one computes the gradient of its input.
    pub fn backward(
        &self,
        tape: ChainTape,
        mut dy: Vec<f32>,
        fork: Option<&Fork>,
    ) -> Vec<(ParamId, Vec<f32>)> {
        let rows = tape.rows;
        let mut grads = Vec::with_capacity(2 * self.layers.len());
        for (i, l) in self.layers.iter().enumerate().rev() {
            l.act.grad(&tape.saved[i], &mut dy);
            let (inputs, outputs, has_bias) = (l.inputs, l.outputs, l.b.is_some());
            let (x, g) = (&tape.inputs[i], &dy);
            let params = move || {
                let dw = product(
                    Mat::transposed(x, rows, inputs),
                    Mat::rows(g, rows, outputs),
                );
                let db = has_bias.then(|| {
                    let mut db = vec![0.0f32; outputs];
                    add_column_sums(&mut db, g);
                    db
                });
                (dw, db)
            };
            let input = || {
                (i > 0).then(|| {
                    product(
                        Mat::rows(g, rows, outputs),
                        Mat::transposed(&l.w, inputs, outputs),
                    )
                })
            };
            let ((dw, db), dx) = match fork {
                Some(fork) if i > 0 => fork.join(params, input),
                _ => (params(), input()),
            };
            grads.push((l.ids.0, dw));
            if let (Some(id), Some(db)) = (l.ids.1, db) {
                grads.push((id, db));
            }
            if let Some(dx) = dx {
                dy = dx;
            }
        }
        grads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fused::dense::dense_reference;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution, Tensor};

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32")
    }

    fn assert_close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() < 1e-4 * (1.0 + w.abs()),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    }

    #[test]
    fn chain_matches_burn_ops_in_value_and_every_parameter_gradient() {
        let dev = Device::flex().autodiff();
        let plain = dev.clone().inner();
        // Every activation the chain fuses, a layer without bias, and a 4-wide input (the
        // few-rows kernel's tiny inner dimension) at 37 rows.
        let spec = [
            (4, 24, "relu", true),
            (24, 16, "gelu", true),
            (16, 12, "tanh", false),
            (12, 9, "silu", true),
            (9, 8, "sigmoid", true),
            (8, 3, "identity", true),
        ];
        let layers: Vec<Linear> = spec
            .iter()
            .map(|&(i, o, _, bias)| LinearConfig::new(i, o).with_bias(bias).init(&dev))
            .collect();
        let named: Vec<(&Linear, &str)> = layers.iter().zip(&spec).map(|(l, s)| (l, s.2)).collect();
        let chain = DenseChain::new(&named).expect("plain Flex f32 parameters");
        let rows = 37;
        let x = Tensor::<2>::random([rows, 4], Distribution::Normal(0.0, 1.0), &plain);
        let up = Tensor::<2>::random([rows, 3], Distribution::Normal(0.0, 1.0), &plain);

        let (y, tape) = chain.train_forward(values(x.clone()), rows);
        let got = chain.backward(tape, values(up.clone()), None);
        // split with a helper thread: the same products, so the same bits
        if let Some(fork) = super::super::fork::Fork::new() {
            let (_, tape) = chain.train_forward(values(x.clone()), rows);
            assert_eq!(chain.backward(tape, values(up.clone()), Some(&fork)), got);
        }

        let mut h = x.autodiff();
        for (l, s) in layers.iter().zip(&spec) {
            h = dense_reference(h, l.weight.val(), l.bias.as_ref().map(|b| b.val()), s.2);
        }
        assert_close(&y, &values(h.clone().inner()), "output");
        let grads = (h * up.autodiff()).sum().backward();
        let mut want = Vec::new();
        for l in &layers {
            want.push((
                l.weight.id,
                values(l.weight.val().grad(&grads).expect("dw")),
            ));
            if let Some(b) = &l.bias {
                want.push((b.id, values(b.val().grad(&grads).expect("db"))));
            }
        }
        assert_eq!(got.len(), want.len(), "one gradient per parameter");
        for (id, g) in &got {
            let (_, w) = want
                .iter()
                .find(|(wid, _)| wid == id)
                .expect("known parameter");
            assert_close(g, w, &format!("gradient of {id}"));
        }
    }

    #[test]
    fn non_plain_parameters_are_refused() {
        let mut half = LinearConfig::new(3, 2).init(&Device::flex());
        half.weight =
            burn::module::Param::from_tensor(half.weight.val().cast(burn::tensor::DType::F16));
        assert!(DenseChain::new(&[(&half, "relu")]).is_none());
    }
}
