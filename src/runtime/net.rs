//! Lowered networks (`encoder -> torso -> heads`) and the agent model holding all of them.

use burn::module::Module;
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
}

/// The outputs of a network over a sequence.
pub struct NetOut {
    /// Torso features `[T, B, F]`.
    pub features: Tensor<3>,
    /// One output per head, `[T, B, n]`.
    pub heads: Vec<Tensor<3>>,
    /// The carry after the last step.
    pub carry: Carry,
}

impl AgentModel {
    /// Initial carry of network `net` for `batch` environments.
    pub fn init_carry(&self, net: usize, batch: usize, device: &Device) -> Carry {
        let ctx = Ctx {
            shared: &self.shared,
        };
        let n = &self.nets[net];
        Carry::Tuple(vec![
            n.encoder.init_carry(batch, device, &ctx),
            n.torso.init_carry(batch, device, &ctx),
        ])
    }

    /// Run network `net` over observations `[T, B, obs]` with start flags `[T, B]`.
    pub fn forward(&self, net: usize, obs: Tensor<3>, start: &Tensor<2>, carry: Carry) -> NetOut {
        let ctx = Ctx {
            shared: &self.shared,
        };
        let n = &self.nets[net];
        let (x, c_enc) = n.encoder.forward(obs, start, carry.child(0), &ctx);
        let (x, c_torso) = n.torso.forward(x, start, carry.child(1), &ctx);
        let heads = n.heads.iter().map(|h| h.forward(x.clone())).collect();
        NetOut {
            features: x,
            heads,
            carry: Carry::Tuple(vec![c_enc, c_torso]),
        }
    }

    /// True when network `net` keeps recurrent state.
    pub fn is_recurrent(&self, net: usize, device: &Device) -> bool {
        self.init_carry(net, 1, device).floats_per_env() > 0
    }
}
