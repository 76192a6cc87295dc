//! Lowered networks (`encoder -> torso -> heads`) and the agent model holding all of them.

use burn::module::Module;
use burn::nn::Linear;
use burn::prelude::*;

use super::carry::Carry;
use super::heads::HeadLayer;
use super::layer::{Ctx, Layer};

/// One network: encoder, torso and one or more heads.
#[derive(Module, Debug)]
pub struct Net {
    /// Encoder block.
    pub encoder: Layer,
    /// Torso block.
    pub torso: Layer,
    /// Heads, in the IR's order.
    pub heads: Vec<HeadLayer>,
}

/// Every network of an agent plus the `shared(...)` parameter sets they reference.
#[derive(Module, Debug)]
pub struct AgentModel {
    /// Networks in the IR's order.
    pub nets: Vec<Net>,
    /// Shared blocks, indexed by shared id.
    pub shared: Vec<Layer>,
    /// Width of the environment's own observation (before appended previous-step inputs).
    pub obs_dim: usize,
    /// Width of the previous action appended to observations (0: none; `embed_action`).
    pub prev_action: usize,
    /// 1 when the previous reward is appended to observations (`embed_reward`), else 0.
    pub prev_reward: usize,
}

/// The outputs of a network over a sequence.
pub struct NetOut {
    /// Torso features `[T, B, F]`.
    pub features: Tensor<3>,
    /// One output per head, `[T, B, n]`.
    pub heads: Vec<Tensor<3>>,
    /// The carry after the last step.
    pub carry: Carry,
    /// Sum of the auxiliary losses the blocks produced (e.g. `moe` load balancing), to be added
    /// to the training loss; `None` when there are none.
    pub aux: Option<Tensor<1>>,
}

impl AgentModel {
    /// The networks taken out, and the rest of the model (no networks) to put them back into with
    /// [`AgentModel::with_nets`].
    pub fn take_nets(mut self) -> (Vec<Net>, AgentModel) {
        let nets = std::mem::take(&mut self.nets);
        (nets, self)
    }

    /// This model with `nets` as its networks.
    pub fn with_nets(mut self, nets: Vec<Net>) -> AgentModel {
        self.nets = nets;
        self
    }

    /// Whether the model has several networks and none of its parameters is shared between them
    /// (no `shared(...)` block holds any): each network can then be trained on its own.
    pub fn nets_are_disjoint(&self) -> bool {
        self.nets.len() > 1 && self.shared.iter().all(|l| l.num_params() == 0)
    }

    /// `net` as the only network of a model with this model's inputs and no shared blocks (for
    /// training a network that shares no parameters on its own).
    pub fn alone(&self, net: Net) -> AgentModel {
        AgentModel {
            nets: vec![net],
            shared: Vec::new(),
            obs_dim: self.obs_dim,
            prev_action: self.prev_action,
            prev_reward: self.prev_reward,
        }
    }

    /// Initial carry of network `net` for `batch` environments.
    pub fn init_carry(&self, net: usize, batch: usize, device: &Device) -> Carry {
        let ctx = Ctx::new(&self.shared);
        let n = &self.nets[net];
        Carry::Tuple(vec![
            n.encoder.init_carry(batch, device, &ctx),
            n.torso.init_carry(batch, device, &ctx),
        ])
    }

    /// Run network `net` over observations `[T, B, obs]` with start flags `[T, B]`. Where the
    /// network embeds the previous action or reward, `obs` carries them appended (see
    /// `envs::prev`) and they are split off here.
    pub fn forward(&self, net: usize, obs: Tensor<3>, start: &Tensor<2>, carry: Carry) -> NetOut {
        self.forward_ctx(net, obs, start, carry, true)
    }

    /// [`AgentModel::forward`] for a caller that drops the new carry (a training loss): blocks
    /// may skip building theirs, so the returned carry is [`Carry::Unit`]. Features, heads and
    /// auxiliary losses (values and gradients) are those of `forward`.
    pub fn forward_outputs(
        &self,
        net: usize,
        obs: Tensor<3>,
        start: &Tensor<2>,
        carry: Carry,
    ) -> NetOut {
        NetOut {
            carry: Carry::Unit,
            ..self.forward_ctx(net, obs, start, carry, false)
        }
    }

    fn forward_ctx(
        &self,
        net: usize,
        obs: Tensor<3>,
        start: &Tensor<2>,
        carry: Carry,
        final_carry: bool,
    ) -> NetOut {
        let mut ctx = Ctx::new(&self.shared);
        ctx.final_carry = final_carry;
        let (d, a, r) = (self.obs_dim, self.prev_action, self.prev_reward);
        let obs = if a + r > 0 && obs.dims()[2] == d + a + r {
            if a > 0 {
                ctx.prev_action = Some(obs.clone().narrow(2, d, a));
            }
            if r > 0 {
                ctx.prev_reward = Some(obs.clone().narrow(2, d + a, 1));
            }
            obs.narrow(2, 0, d)
        } else {
            obs
        };
        let n = &self.nets[net];
        // children moved out: a step can then update a carry's buffers in place
        let mut carry = carry;
        let (x, c_enc) = n.encoder.forward(obs, start, carry.take_child(0), &ctx);
        let (x, c_torso) = n.torso.forward(x, start, carry.take_child(1), &ctx);
        let heads = n.heads.iter().map(|h| h.forward(x.clone())).collect();
        let aux = ctx.aux.into_inner().into_iter().reduce(|a, b| a + b);
        NetOut {
            features: x,
            heads,
            carry: Carry::Tuple(vec![c_enc, c_torso]),
            aux,
        }
    }

    /// Network `net` up to head `head` as a plain chain of `(linear, activation)` layers, when it
    /// is one: encoder and torso made only of `mlp`, linear and identity blocks (in sequences),
    /// a linear head, and no previous-step inputs. `None` for anything else.
    pub fn dense_layers(&self, net: usize, head: usize) -> Option<Vec<(&Linear, &str)>> {
        fn walk<'a>(l: &'a Layer, out: &mut Vec<(&'a Linear, &'a str)>) -> Option<()> {
            match l {
                Layer::Identity(_) => {}
                Layer::Linear(lin) => out.push((lin, "identity")),
                Layer::Mlp(m) => out.extend(m.layers.iter().map(|lin| (lin, m.act.kind.as_str()))),
                Layer::Seq(s) => {
                    for m in &s.layers {
                        walk(m, out)?;
                    }
                }
                _ => return None,
            }
            Some(())
        }
        if self.prev_action + self.prev_reward > 0 {
            return None;
        }
        let n = self.nets.get(net)?;
        let mut out = Vec::new();
        walk(&n.encoder, &mut out)?;
        walk(&n.torso, &mut out)?;
        match n.heads.get(head)? {
            HeadLayer::Categorical(l) | HeadLayer::Q(l) | HeadLayer::Value(l) => {
                out.push((l, "identity"))
            }
            _ => return None,
        }
        Some(out)
    }

    /// Features appended to observations for this model: (previous action, previous reward).
    pub fn prev_inputs(&self) -> (bool, bool) {
        (self.prev_action > 0, self.prev_reward > 0)
    }

    /// True when network `net` keeps recurrent state.
    pub fn is_recurrent(&self, net: usize, device: &Device) -> bool {
        self.init_carry(net, 1, device).floats_per_env() > 0
    }
}

#[cfg(test)]
mod tests {
    use crate::algorithms::common::{flag_values, host, tensor};
    use burn::prelude::*;

    /// A training loss's forward (no new carry) equals the full forward in outputs and input
    /// gradients, for attention and segment memory over several sub-chunks from a non-empty carry.
    #[test]
    fn forward_outputs_equals_forward_without_the_carry() {
        let src = r#"
agent a {
  env = "gymnax::CartPole-v1"
  algorithm = ppo(num_envs = 3, num_steps = 4, minibatches = 1)
  encoder = mlp(8)
  torso = stack(
    gated_residual(prenorm(segment_recurrence(attention(heads = 2, ctx = 4, pos = alibi), memory = 3))),
    residual(attention(heads = 2, ctx = 4)),
  )
  actor = categorical()
  critic = value()
  train { steps = 100 }
}
"#;
        let device = Device::flex().autodiff();
        let lowered = crate::lower::lower_source(src, &device);
        let (net, head) = lowered.head("actor").expect("actor");
        let model = lowered.model;
        let (t, b, f) = (11, 3, 4);
        let wave = |n: usize, k: usize| -> Vec<f32> {
            (0..n).map(|i| ((i * k) % 19) as f32 / 9.0 - 1.0).collect()
        };
        let starts = flag_values(&(0..t * b).map(|i| i % 8 == 5).collect::<Vec<_>>());
        let flags = || tensor(starts.clone(), [t, b], &device);
        // a carry that is not the initial one: the state after a first sequence
        let warm = model.forward(
            net,
            tensor(wave(t * b * f, 7), [t, b, f], &device),
            &flags(),
            model.init_carry(net, b, &device),
        );
        let carry = warm.carry.detach();
        let obs = tensor(wave(t * b * f, 5), [t, b, f], &device);
        let run = |outputs_only: bool| {
            let x = obs.clone().require_grad();
            let s = flags();
            let out = if outputs_only {
                model.forward_outputs(net, x.clone(), &s, carry.clone())
            } else {
                model.forward(net, x.clone(), &s, carry.clone())
            };
            let y = out.heads[head].clone();
            let grads = (y.clone() * y.clone()).sum().backward();
            let dx = x.grad(&grads).expect("input gradient");
            (host(y.detach()), host(dx), out.carry)
        };
        let (y_full, dx_full, c_full) = run(false);
        let (y_out, dx_out, c_out) = run(true);
        assert_eq!(y_full, y_out, "outputs");
        assert_eq!(dx_full, dx_out, "input gradients");
        assert!(c_full.floats_per_env() > 0);
        assert!(matches!(c_out, crate::runtime::carry::Carry::Unit));
    }
}
