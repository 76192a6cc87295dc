//! Optimizer steps over an agent's networks. Networks that share no parameters clip their
//! gradients each on its own, as memorax's separate actor and critic optimizers (each an
//! `optax.chain(clip_by_global_norm, adam)`) do; each network's update runs on its own thread;
//! and [`NetAdam`] is one network's share of the host optimizer, for updating that network alone
//! (PPO's actor and critic then train side by side without meeting after every minibatch).

use std::collections::HashMap;

use burn::module::{Module, ParamId};
use burn::optim::GradientsParams;

use super::{HostAdam, Moments, Optim, clip_scale, host_grads, param_ids};
use crate::runtime::fused::fork::Fork;
use crate::runtime::net::{AgentModel, Net};

/// Where [`HostAdam::step_nets`] updates the networks.
#[derive(Clone, Copy)]
pub(super) enum Threads<'a> {
    /// One after another on the calling thread.
    One,
    /// Two networks: the caller's thread and the fork's helper.
    Fork(&'a Fork),
    /// The first network on the caller's thread, one spawned thread for each other.
    Spawn,
}

/// One network's gradients and moments, on their way through [`HostAdam::step_nets`].
type NetPart = (Net, HostAdam, HashMap<ParamId, Vec<f32>>, f32);

impl HostAdam {
    /// [`HostAdam::step`] for an agent's model, with each network's gradient clipped on its own
    /// when [`AgentModel::nets_are_disjoint`] (else all together) and the networks updated as `threads` says
    /// (same result either way: every parameter's update is independent of the others). Returns
    /// the norm of all gradients together, before clipping.
    pub(super) fn step_nets(
        &mut self,
        model: AgentModel,
        mut grads: GradientsParams,
        lr: f32,
        clip: Option<f32>,
        threads: Threads<'_>,
    ) -> (AgentModel, f32) {
        let per_net = model.nets_are_disjoint();
        let global_clip = if per_net { None } else { clip };
        let (mut host, norm, scale) = host_grads(param_ids(&model), &mut grads, global_clip);
        let (nets, mut rest) = model.take_nets();
        let parts: Vec<NetPart> = nets
            .into_iter()
            .map(|net| {
                let ids = param_ids(&net);
                let adam = self.take_moments(&ids);
                let g: HashMap<ParamId, Vec<f32>> = (ids.iter())
                    .filter_map(|(id, _)| host.remove(id).map(|g| (*id, g)))
                    .collect();
                let scale = match per_net {
                    true => clip_scale(ids.iter().filter_map(|(id, _)| g.get(id)), clip).1,
                    false => scale,
                };
                (net, adam, g, scale)
            })
            .collect();
        let update = |(net, mut adam, grads, scale): NetPart| {
            let net = adam.update_all(net, grads, lr, scale);
            (net, adam.moments)
        };
        let done: Vec<(Net, HashMap<ParamId, Moments>)> = match (threads, parts.len()) {
            (Threads::Fork(fork), 2) => {
                let mut parts = parts.into_iter();
                let (first, second) = (parts.next(), parts.next());
                let (b, a) = fork.join(
                    || second.map(update).expect("second network"),
                    || first.map(update).expect("first network"),
                );
                vec![a, b]
            }
            (Threads::One, _) => parts.into_iter().map(update).collect(),
            _ => std::thread::scope(|s| {
                let mut parts = parts.into_iter();
                let first = parts.next();
                let others: Vec<_> = parts.map(|p| s.spawn(move || update(p))).collect();
                let mut done: Vec<_> = first.into_iter().map(update).collect();
                done.extend(
                    others
                        .into_iter()
                        .map(|h| h.join().expect("optimizer thread")),
                );
                done
            }),
        };
        let mut nets = Vec::with_capacity(done.len());
        for (net, moments) in done {
            self.moments.extend(moments);
            nets.push(net);
        }
        // shared blocks (if any) with the gradients left
        rest.shared = self.update_all(std::mem::take(&mut rest.shared), host, lr, scale);
        (rest.with_nets(nets), norm)
    }

    /// Settings, and the moments of the parameters `ids` moved out of `self`.
    fn take_moments(&mut self, ids: &[(ParamId, usize)]) -> HostAdam {
        let mut adam = self.clone_settings();
        for (id, _) in ids {
            if let Some(mo) = self.moments.remove(id) {
                adam.moments.insert(*id, mo);
            }
        }
        adam
    }
}

/// One network's share of the host optimizer: its moments, learning rate and clipping, taken
/// out with [`Optim::take_net`] to update that network alone (on any thread) and given back with
/// [`Optim::give_net`]. Its steps equal [`Optim::apply_nets`]' for that network when the
/// networks clip separately.
pub struct NetAdam {
    adam: HostAdam,
    lr: f32,
    clip: Option<f32>,
}

impl NetAdam {
    /// One step of `model` (holding only this share's network) from its gradients; returns the
    /// new model and the norm of the gradients before clipping.
    pub fn step<M: Module>(&mut self, model: M, grads: GradientsParams) -> (M, f32) {
        self.adam.step(model, grads, self.lr, self.clip)
    }
}

impl Optim {
    /// `net`'s share of the host optimizer at `progress` (its learning rate), moved out; `None`
    /// when the burn optimizer holds the state (see [`Optim::takes_host_grads`]).
    pub fn take_net(&mut self, net: &Net, progress: f64) -> Option<NetAdam> {
        if !self.takes_host_grads(net) {
            return None;
        }
        Some(NetAdam {
            adam: self.host.take_moments(&param_ids(net)),
            lr: self.lr.at(progress) as f32,
            clip: self.clip_norm.map(|c| c as f32),
        })
    }

    /// Puts a share taken with [`Optim::take_net`] back.
    pub fn give_net(&mut self, share: NetAdam) {
        self.host.moments.extend(share.adam.moments);
    }
}
