//! PPO's update epochs: minibatches of rollout columns replayed from the rollout-start carries,
//! one optimizer step each.
//!
//! When actor and critic are separate networks on the host optimizer (and [`loss::separable`]),
//! their updates share nothing: each network has its own loss, gradient clipping and Adam
//! moments (as memorax's separate actor and critic optimizers). They then run [`independent`]ly,
//! all epochs of the actor on the calling thread and all of the critic on the fork's helper,
//! instead of meeting after every minibatch to merge gradients and step the optimizer
//! ([`coupled`]). The minibatches and every update are the same either way.

use std::collections::BTreeMap;

use burn::prelude::*;

use super::super::common::{Optim, gather_cols, permutation, tensor};
use super::super::optim::NetAdam;
use super::loss::{self, LossSpec, Minibatch, Role};
use crate::runtime::carry::Carry;
use crate::runtime::fused::fork::Fork;
use crate::runtime::net::AgentModel;

/// The rollout as the update reads it: `[T, B]`-major host buffers (`lt × lb` columns).
pub(super) struct UpdateData<'a> {
    /// Observations, `f` per entry.
    pub obs: &'a [f32],
    /// Episode-start flags as 0/1.
    pub starts: &'a [f32],
    /// Log-probabilities of the taken actions.
    pub logp: &'a [f32],
    /// Advantages.
    pub adv: &'a [f32],
    /// Value targets.
    pub ret: &'a [f32],
    /// Values predicted during the rollout.
    pub values: &'a [f32],
    /// Taken actions, `aw` per entry.
    pub actions: &'a [f32],
    /// Carries of the networks at the rollout start.
    pub carries: &'a BTreeMap<usize, Carry>,
    /// Layout: time steps, columns, observation width, action width.
    pub dims: (usize, usize, usize, usize),
    /// Whether minibatches are sequences (some network is recurrent) or single steps.
    pub recurrent: bool,
    /// The training (autodiff) device.
    pub device: &'a Device,
    /// The plain device of the rollout carries.
    pub plain: &'a Device,
}

/// Where a minibatch's start carry of one network comes from: network `net` of the rollout,
/// which is network `index` of `model`.
#[derive(Clone, Copy)]
pub(super) struct CarryOf<'a> {
    pub model: &'a AgentModel,
    pub index: usize,
    pub net: usize,
}

impl UpdateData<'_> {
    /// The minibatch of columns `cols`, with the start carries of the actor and (when it is a
    /// separate network) the critic; a network not given gets an empty carry.
    pub fn minibatch(
        &self,
        cols: &[usize],
        actor: Option<CarryOf<'_>>,
        critic: Option<CarryOf<'_>>,
    ) -> Minibatch {
        let (lt, lb, f, aw) = self.dims;
        let (m, dev) = (cols.len(), self.device);
        let col = |v: &[f32]| gather_cols(v, lt, lb, 1, cols);
        let idx = Tensor::<1, Int>::from_data(
            TensorData::new(cols.iter().map(|&c| c as i64).collect::<Vec<_>>(), [m]),
            self.plain,
        );
        let carry = |of: Option<CarryOf<'_>>| -> Carry {
            let Some(of) = of else {
                return Carry::Tuple(Vec::new());
            };
            let c = if self.recurrent {
                self.carries[&of.net].clone().select_rows(&idx)
            } else {
                of.model.init_carry(of.index, m, self.plain)
            };
            c.map(&mut |t| t.autodiff())
        };
        Minibatch {
            obs: tensor(gather_cols(self.obs, lt, lb, f, cols), [lt, m, f], dev),
            starts: if self.recurrent {
                tensor(col(self.starts), [lt, m], dev)
            } else {
                tensor(vec![0.0; m], [1, m], dev)
            },
            old_logp: tensor(col(self.logp), [lt, m], dev),
            advs: tensor(col(self.adv), [lt, m], dev),
            rets: tensor(col(self.ret), [lt, m], dev),
            old_v: tensor(col(self.values), [lt, m], dev),
            acts: gather_cols(self.actions, lt, lb, aw, cols),
            actor_carry: carry(actor),
            critic_carry: carry(critic),
        }
    }
}

/// The columns of every minibatch of every epoch, in update order: `epochs` shuffles of the
/// `lb` columns, each cut into minibatches of `mb`.
pub(super) fn batches(
    epochs: usize,
    lb: usize,
    mb: usize,
    rng: &mut impl rand::Rng,
) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for _ in 0..epochs {
        let perm = permutation(lb, rng);
        out.extend(perm.chunks(mb.max(1)).map(<[usize]>::to_vec));
    }
    out
}

/// The diagnostics of one minibatch: [`loss::SCALARS`] and the gradient norm before clipping
/// (of all trained networks together).
pub(super) type Row = ([f32; 5], f32);

/// Whether all of a minibatch's diagnostics are finite (an update stops before stepping on one
/// that is not).
fn finite(scalars: &[f32]) -> bool {
    scalars.iter().all(|v| v.is_finite())
}

/// The update with one optimizer step per minibatch over both networks (gradients merged when
/// actor and critic differentiate on two threads). Stops before stepping on a minibatch whose
/// losses are not finite (that row is last).
pub(super) fn coupled(
    mut model: AgentModel,
    data: &UpdateData<'_>,
    batches: &[Vec<usize>],
    spec: &LossSpec<'_>,
    (optim, progress): (&mut Optim, f64),
    fork: Option<&Fork>,
) -> (AgentModel, Vec<Row>) {
    let mut rows = Vec::with_capacity(batches.len());
    for cols in batches {
        let carry = |net: usize| CarryOf {
            model: &model,
            index: net,
            net,
        };
        let critic = (spec.critic.0 != spec.actor.0).then(|| carry(spec.critic.0));
        let mb = data.minibatch(cols, Some(carry(spec.actor.0)), critic);
        let (grads, s) = loss::minibatch_grads(&model, mb, spec, fork);
        let scalars: [f32; 5] = std::array::from_fn(|i| s[i]);
        if !finite(&scalars) {
            rows.push((scalars, 0.0));
            break;
        }
        let (m2, norm) = optim.apply_nets(model, grads, progress, fork);
        model = m2;
        rows.push((scalars, norm));
    }
    (model, rows)
}

/// Whether [`independent`] can run the update of `model` (given a fork, which is only made for
/// [`loss::separable`] agents): two networks sharing no parameters, on the host optimizer.
pub(super) fn runs_independently(model: &AgentModel, optim: &Optim) -> bool {
    model.nets.len() == 2 && model.nets_are_disjoint() && optim.takes_host_grads(model)
}

/// The update with actor and critic trained side by side, each through all minibatches with
/// its own optimizer share (see the module documentation); same rows as [`coupled`] (each
/// network stops at its first non-finite minibatch).
pub(super) fn independent(
    model: AgentModel,
    data: &UpdateData<'_>,
    batches: &[Vec<usize>],
    spec: &LossSpec<'_>,
    (optim, progress): (&mut Optim, f64),
    fork: &Fork,
) -> (AgentModel, Vec<Row>) {
    let (nets, rest) = model.take_nets();
    let mut nets: Vec<Option<_>> = nets.into_iter().map(Some).collect();
    let mut alone = |net: usize| {
        let net = nets[net]
            .take()
            .expect("actor and critic are different networks");
        let share = optim
            .take_net(&net, progress)
            .expect("host optimizer (checked by runs_independently)");
        (rest.alone(net), share)
    };
    let (actor, critic) = (alone(spec.actor.0), alone(spec.critic.0));
    // each network is network 0 of its own model
    let own = LossSpec {
        actor: (0, spec.actor.1),
        critic: (0, spec.critic.1),
        ..*spec
    };
    let train = |role: Role, (mut model, mut share): (AgentModel, NetAdam)| {
        let net = match role {
            Role::Actor => spec.actor.0,
            Role::Critic => spec.critic.0,
        };
        let mut out: Vec<(Vec<f32>, f32)> = Vec::with_capacity(batches.len());
        for cols in batches {
            let of = Some(CarryOf {
                model: &model,
                index: 0,
                net,
            });
            let mb = match role {
                Role::Actor => data.minibatch(cols, of, None),
                Role::Critic => data.minibatch(cols, None, of),
            };
            let (grads, scalars) = loss::net_grads(&model, role, &mb, &own);
            if !finite(&scalars) {
                out.push((scalars, 0.0));
                break;
            }
            let (m2, norm) = share.step(model, grads);
            model = m2;
            out.push((scalars, norm));
        }
        (model, share, out)
    };
    let ((c_model, c_share, c_rows), (a_model, a_share, a_rows)) =
        fork.join(|| train(Role::Critic, critic), || train(Role::Actor, actor));
    optim.give_net(a_share);
    optim.give_net(c_share);
    for (slot, mut m) in [(spec.actor.0, a_model), (spec.critic.0, c_model)] {
        nets[slot] = m.nets.pop();
    }
    let nets = nets.into_iter().map(|n| n.expect("network back")).collect();
    let model = rest.with_nets(nets);
    // rows as the coupled update reports them: up to the first minibatch either network stopped at
    let rows = a_rows
        .into_iter()
        .zip(c_rows)
        .map(|((a, na), (c, nc))| {
            let [pg, ent, kl, clipfrac] = [a[0], a[1], a[2], a[3]];
            ([pg, c[0], ent, kl, clipfrac], (na * na + nc * nc).sqrt())
        })
        .collect();
    (model, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::common::param_values as flat;
    use crate::check::ir::{ActionSpace, Args, Value};

    /// Actor and critic trained side by side through all minibatches end with the same
    /// parameters, optimizer state and diagnostics as one joint step per minibatch.
    #[test]
    fn independent_update_equals_coupled() {
        let Some(fork) = Fork::new() else { return };
        let src = r#"
agent a {
  env = "gymnax::CartPole-v1"
  algorithm = ppo(num_envs = 4, num_steps = 6, minibatches = 2, epochs = 2)
  encoder = mlp(16)
  torso = residual(prenorm(gru(16)))
  actor = categorical()
  critic = value()
  optimizer = adam(lr = 1e-2, clip_norm = 0.5)
  train { steps = 100 }
}
"#;
        let dev = Device::flex().autodiff();
        let lowered = crate::lower::lower_source(src, &dev);
        let (actor, critic) = (
            lowered.head("actor").unwrap(),
            lowered.head("critic").unwrap(),
        );
        let model = lowered.model;
        assert_ne!(actor.0, critic.0, "separate networks");
        let plain = dev.clone().inner();
        let (lt, lb, f) = (6, 4, 4);
        let wave = |n: usize, k: usize| -> Vec<f32> {
            (0..n).map(|i| ((i * k) % 17) as f32 / 8.0 - 1.0).collect()
        };
        let carries: BTreeMap<usize, Carry> = [actor.0, critic.0]
            .into_iter()
            .map(|net| (net, model.init_carry(net, lb, &plain)))
            .collect();
        let (obs, adv, ret, values) =
            (wave(lt * lb * f, 5), wave(24, 7), wave(24, 3), wave(24, 11));
        let logp: Vec<f32> = wave(24, 13).iter().map(|v| v.abs().ln_1p() - 0.7).collect();
        let actions: Vec<f32> = (0..24).map(|i| (i % 2) as f32).collect();
        let starts: Vec<f32> = (0..24).map(|i| (i % 9 == 0) as u8 as f32).collect();
        let data = UpdateData {
            obs: &obs,
            starts: &starts,
            logp: &logp,
            adv: &adv,
            ret: &ret,
            values: &values,
            actions: &actions,
            carries: &carries,
            dims: (lt, lb, f, 1),
            recurrent: true,
            device: &dev,
            plain: &plain,
        };
        let action = ActionSpace::Discrete(2);
        let spec = LossSpec {
            actor,
            critic,
            action: &action,
            clip: 0.2,
            clip_vloss: true,
            vf_coef: 0.5,
            ent_coef: 0.01,
        };
        let batches = batches(2, lb, 2, &mut crate::algorithms::common::Rng64::new(3, 1));
        let opt_args = Args(vec![
            ("lr".into(), Value::Float(1e-2)),
            ("clip_norm".into(), Value::Float(0.5)),
        ]);
        let (mut o1, mut o2) = (Optim::new("adam", &opt_args), Optim::new("adam", &opt_args));
        assert!(runs_independently(&model, &o2));
        let (m1, rows1) = coupled(
            model.clone(),
            &data,
            &batches,
            &spec,
            (&mut o1, 0.0),
            Some(&fork),
        );
        let (m2, rows2) = independent(model.clone(), &data, &batches, &spec, (&mut o2, 0.0), &fork);
        assert_eq!(rows1.len(), batches.len());
        for ((s1, n1), (s2, n2)) in rows1.iter().zip(&rows2) {
            assert_eq!(s1, s2, "diagnostics");
            // the joint norm: one f64 sum there, two per-network norms combined here
            assert!((n1 - n2).abs() <= 1e-6 * n1, "gradient norms {n1} vs {n2}");
        }
        assert_eq!(flat(&m1), flat(&m2));
        assert_ne!(flat(&m1), flat(&model), "the update changed the parameters");
        assert_eq!(o1.to_bytes(), o2.to_bytes());
    }
}
