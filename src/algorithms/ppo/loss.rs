//! PPO's clipped losses for one minibatch and their gradients. When actor and critic are separate
//! networks with no parameters in common, their losses are independent: each network's gradient
//! comes from its own loss ([`net_grads`]), the two forward and backward passes can run on two
//! threads (the caller's and a persistent helper's; burn's autodiff keeps one graph per
//! independent computation), and [`minibatch_grads`] merges them into one set, the same
//! gradients as one joint backward pass.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::check::ir::{self, ActionSpace};
use crate::runtime::carry::Carry;
use crate::runtime::fused::fork::Fork;
use crate::runtime::net::{AgentModel, NetOut};

use super::super::common::{add_aux, host, tensor, with_aux};

/// One minibatch of rollout data, already on the training device, `[T, M]` layout.
pub(crate) struct Minibatch {
    /// Observations `[T, M, F]`.
    pub obs: Tensor<3>,
    /// Episode-start flags `[T, M]`.
    pub starts: Tensor<2>,
    /// Log-probabilities of the taken actions under the rollout policy.
    pub old_logp: Tensor<2>,
    /// Advantages.
    pub advs: Tensor<2>,
    /// Value targets.
    pub rets: Tensor<2>,
    /// Values predicted during the rollout.
    pub old_v: Tensor<2>,
    /// Taken actions, `[T, M, action width]` flattened.
    pub acts: Vec<f32>,
    /// Carry of the actor network at the rollout start, for these columns.
    pub actor_carry: Carry,
    /// Carry of the critic network at the rollout start (unused when it is the actor network).
    pub critic_carry: Carry,
}

/// What the losses depend on beyond the data.
pub(crate) struct LossSpec<'a> {
    /// (network, head) of the policy.
    pub actor: (usize, usize),
    /// (network, head) of the value function.
    pub critic: (usize, usize),
    /// Action space of the environment.
    pub action: &'a ActionSpace,
    /// Ratio (and value) clip ε.
    pub clip: f32,
    /// Clip the value loss too.
    pub clip_vloss: bool,
    /// Value loss coefficient.
    pub vf_coef: f32,
    /// Entropy bonus coefficient.
    pub ent_coef: f32,
}

/// Names of the diagnostics returned by [`minibatch_grads`], in order.
pub(crate) const SCALARS: [&str; 5] = [
    "policy_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "clipfrac",
];

/// True when actor and critic can be differentiated on separate threads: separate networks, no
/// `shared(...)` parameters and no dropout (whose masks come from burn's process-global RNG, so
/// the order of draws would depend on thread timing).
pub(crate) fn separable(agent: &ir::Agent, spec: &LossSpec) -> bool {
    fn any(b: &ir::Block, f: &dyn Fn(&ir::Block) -> bool) -> bool {
        f(b) || b.children.iter().any(|c| any(c, f))
    }
    let unsafe_block = |b: &ir::Block| b.shared.is_some() || b.kind == "dropout";
    spec.actor.0 != spec.critic.0
        && std::thread::available_parallelism().map_or(1, |n| n.get()) > 1
        && agent
            .networks
            .iter()
            .all(|n| !any(&n.encoder, &unsafe_block) && !any(&n.torso, &unsafe_block))
}

/// Policy terms: (loss to minimise without the value part, [policy loss, entropy, approx KL,
/// clip fraction]).
fn policy_terms(
    model: &AgentModel,
    out: &NetOut,
    mb: &Minibatch,
    spec: &LossSpec,
) -> (Tensor<1>, [Tensor<1>; 4]) {
    let [lt, m] = mb.old_logp.dims();
    let dev = mb.old_logp.device();
    let pol = out.heads[spec.actor.1].clone();
    let (logp, entropy) = match spec.action {
        ActionSpace::Discrete(_) => {
            let lsm = log_softmax(pol, 2);
            let a_idx = Tensor::<3, Int>::from_data(
                TensorData::new(
                    mb.acts.iter().map(|&a| a as i64).collect::<Vec<_>>(),
                    [lt, m, 1],
                ),
                &dev,
            );
            let logp: Tensor<2> = lsm.clone().gather(2, a_idx).reshape([lt, m]);
            let ent: Tensor<2> = (lsm.clone().exp() * lsm).sum_dim(2).neg().reshape([lt, m]);
            (logp, ent)
        }
        ActionSpace::Box { dim, .. } => {
            let ls = model.nets[spec.actor.0].heads[spec.actor.1]
                .log_std()
                .expect("gaussian head")
                .reshape([1, 1, *dim]);
            let a = tensor(mb.acts.clone(), [lt, m, *dim], &dev);
            let z = (a - pol) / ls.clone().exp();
            let c = 0.5 * std::f32::consts::TAU.ln();
            let logp: Tensor<2> = (z.square().mul_scalar(-0.5) - ls.clone() - c)
                .sum_dim(2)
                .reshape([lt, m]);
            let ent_per: Tensor<1> = (ls.add_scalar(0.5 + c)).sum_dim(2).reshape([1]);
            let ent: Tensor<2> = ent_per.unsqueeze_dim::<2>(0).expand([lt, m]);
            (logp, ent)
        }
    };
    let ratio = (logp.clone() - mb.old_logp.clone()).exp();
    let pg1 = ratio.clone() * mb.advs.clone();
    let pg2 = ratio.clone().clamp(1.0 - spec.clip, 1.0 + spec.clip) * mb.advs.clone();
    let pg_loss = pg1.min_pair(pg2).mean().neg();
    let ent = entropy.mean();
    let loss = pg_loss.clone() - ent.clone().mul_scalar(spec.ent_coef);
    let log_ratio = logp - mb.old_logp.clone();
    let approx_kl = ((ratio.clone() - 1.0) - log_ratio).mean();
    let clipfrac = (ratio - 1.0).abs().greater_elem(spec.clip).float().mean();
    (loss, [pg_loss, ent, approx_kl, clipfrac])
}

/// Value loss (½ squared error, optionally clipped like the ratio) of values `[T, M, 1]`.
fn value_loss(values: Tensor<3>, mb: &Minibatch, spec: &LossSpec) -> Tensor<1> {
    let values: Tensor<2> = values.reshape(mb.rets.dims());
    if spec.clip_vloss {
        let clipped =
            mb.old_v.clone() + (values.clone() - mb.old_v.clone()).clamp(-spec.clip, spec.clip);
        let a = (values - mb.rets.clone()).square();
        let b = (clipped - mb.rets.clone()).square();
        a.max_pair(b).mean().mul_scalar(0.5)
    } else {
        (values - mb.rets.clone()).square().mean().mul_scalar(0.5)
    }
}

/// Which network's loss [`net_grads`] differentiates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The policy network: clipped surrogate and entropy bonus.
    Actor,
    /// The value network: `vf_coef` × value loss.
    Critic,
}

/// Gradients of one network's own loss (actor and critic separate networks) with respect to its
/// parameters, and its diagnostics: policy loss, entropy, approx KL and clip fraction for the
/// actor, the value loss for the critic.
pub(crate) fn net_grads(
    model: &AgentModel,
    role: Role,
    mb: &Minibatch,
    spec: &LossSpec,
) -> (GradientsParams, Vec<f32>) {
    match role {
        Role::Critic => {
            let net = spec.critic.0;
            let out =
                model.forward_outputs(net, mb.obs.clone(), &mb.starts, mb.critic_carry.clone());
            let v = value_loss(out.heads[spec.critic.1].clone(), mb, spec);
            let loss = with_aux(v.clone().mul_scalar(spec.vf_coef), out.aux);
            let grads = GradientsParams::from_grads(loss.backward(), &model.nets[net]);
            (grads, host(v.detach()))
        }
        Role::Actor => {
            let net = spec.actor.0;
            let mut out =
                model.forward_outputs(net, mb.obs.clone(), &mb.starts, mb.actor_carry.clone());
            let aux = out.aux.take();
            let (loss, pg) = policy_terms(model, &out, mb, spec);
            let loss = with_aux(loss, aux);
            let grads = GradientsParams::from_grads(loss.backward(), &model.nets[net]);
            (grads, host(Tensor::cat(pg.map(|t| t.detach()).to_vec(), 0)))
        }
    }
}

/// Gradients of the PPO loss on one minibatch, and its diagnostics (see [`SCALARS`]). With
/// `fork` (only when [`separable`]), the critic's pass runs on the helper thread.
pub(crate) fn minibatch_grads(
    model: &AgentModel,
    mb: Minibatch,
    spec: &LossSpec,
    fork: Option<&Fork>,
) -> (GradientsParams, Vec<f32>) {
    let diagnostics = |pg: [Tensor<1>; 4], v: Tensor<1>| {
        let [pg_loss, ent, kl, clipfrac] = pg.map(|t| t.detach());
        host(Tensor::cat(vec![pg_loss, v.detach(), ent, kl, clipfrac], 0))
    };
    // network `net` over the minibatch from its start carry (the new carry is not used)
    let run = |net: usize, carry: &Carry| {
        model.forward_outputs(net, mb.obs.clone(), &mb.starts, carry.clone())
    };
    if let Some(fork) = fork {
        let critic = || net_grads(model, Role::Critic, &mb, spec);
        let actor = || net_grads(model, Role::Actor, &mb, spec);
        let ((critic_grads, v), (mut grads, pg)) = fork.join(critic, actor);
        merge_grads(&model.nets[spec.critic.0], critic_grads, &mut grads);
        let [pg_loss, ent, kl, clipfrac] = [pg[0], pg[1], pg[2], pg[3]];
        (grads, vec![pg_loss, v[0], ent, kl, clipfrac])
    } else {
        let mut out = run(spec.actor.0, &mb.actor_carry);
        let mut aux = out.aux.take();
        let values = if spec.actor.0 == spec.critic.0 {
            out.heads[spec.critic.1].clone()
        } else {
            let c_out = run(spec.critic.0, &mb.critic_carry);
            aux = add_aux(aux, c_out.aux);
            c_out.heads[spec.critic.1].clone()
        };
        let v = value_loss(values, &mb, spec);
        let (loss, pg) = policy_terms(model, &out, &mb, spec);
        let loss = with_aux(loss + v.clone().mul_scalar(spec.vf_coef), aux);
        let grads = GradientsParams::from_grads(loss.backward(), model);
        (grads, diagnostics(pg, v))
    }
}

/// Move the gradients of `module`'s parameters from `from` into `into`.
fn merge_grads<M: Module>(module: &M, mut from: GradientsParams, into: &mut GradientsParams) {
    struct Mover<'a> {
        from: &'a mut GradientsParams,
        into: &'a mut GradientsParams,
    }
    impl Mover<'_> {
        fn take<const D: usize>(&mut self, id: ParamId) {
            if let Some(g) = self.from.remove::<D>(id) {
                self.into.register(id, g);
            }
        }
    }
    impl ModuleVisitor for Mover<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.take::<D>(p.id);
        }
    }
    module.visit(&mut Mover {
        from: &mut from,
        into,
    });
}
