//! One SAC gradient step: critic (twin soft-Q targets), actor (reparameterised or expected over
//! discrete actions), temperature.

use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::algorithms::AlgoError;
use crate::algorithms::buffers::carry_rows;
use crate::algorithms::common::{Optim, host, normal, tensor};
use crate::runtime::carry::Carry;
use crate::runtime::net::AgentModel;

use super::{Sac, policy};

/// Time-major replay streams of one update: `[w, b, ..]`, trained positions `burn..burn + len`,
/// each bootstrapping from the position after it.
struct Streams {
    w: usize,
    b: usize,
    burn: usize,
    len: usize,
    obs: Vec<f32>,
    start: Vec<f32>,
    actions: Vec<f32>,
    /// `r_t` at trained positions, `[len, b]`.
    reward: Vec<f32>,
    /// `γ·(1 − end_t)` at trained positions, `[len, b]`.
    discount: Vec<f32>,
    actor_carry: Vec<f32>,
    critic_carry: Vec<f32>,
}

/// Optimizer step on the parameters of network `net` only (the loss may reach others).
fn step_net(
    opt: &mut Optim,
    model: AgentModel,
    net: usize,
    loss: Tensor<1>,
    progress: f64,
) -> AgentModel {
    // Only `net`'s parameters get gradients, so the clipping norm is over them alone.
    let grads = GradientsParams::from_grads(loss.backward(), &model.nets[net]);
    opt.apply(model, grads, progress).0
}

fn slice_t(x: &[f32], from: usize, to: usize, per_t: usize) -> Vec<f32> {
    x[from * per_t..to * per_t].to_vec()
}

impl Sac {
    fn streams(&mut self) -> Option<Streams> {
        let (bs, d, aw) = (self.cfg.batch_size, self.obs_dim, self.act_dim());
        let win = self.replay.sample(bs, &mut self.rng)?;
        let ca = self.actor_carry.floats_per_env();
        let cc = self.critic_carry.floats_per_env();
        let mut actor_carry = Vec::with_capacity(bs * ca);
        let mut critic_carry = Vec::with_capacity(bs * cc);
        for j in 0..bs {
            let row = &win.carry[j * (ca + cc)..(j + 1) * (ca + cc)];
            actor_carry.extend_from_slice(&row[..ca]);
            critic_carry.extend_from_slice(&row[ca..]);
        }
        let f = |b: bool| b as u8 as f32;
        let gamma = self.cfg.gamma;
        if self.recurrent {
            let (burn, len) = (self.cfg.burn_in, self.cfg.seq_len);
            let w = burn + len + 1;
            let pos = |t: usize, j: usize| t * bs + j;
            let reward = (burn..burn + len)
                .flat_map(|t| (0..bs).map(move |j| pos(t, j)))
                .map(|i| win.reward[i])
                .collect();
            let discount = (burn..burn + len)
                .flat_map(|t| (0..bs).map(move |j| pos(t, j)))
                .map(|i| gamma * (1.0 - f(win.terminated[i] || win.truncated[i])))
                .collect();
            Some(Streams {
                w,
                b: bs,
                burn,
                len,
                obs: win.obs,
                start: win.start.iter().map(|&s| f(s)).collect(),
                actions: win.actions,
                reward,
                discount,
                actor_carry,
                critic_carry,
            })
        } else {
            // a transition as a two-step stream: observation, then the true next observation
            let mut obs = win.obs;
            obs.extend_from_slice(&win.next_obs);
            let mut actions = win.actions;
            actions.extend(std::iter::repeat_n(0.0, bs * aw));
            let mut start: Vec<f32> = win.start.iter().map(|&s| f(s)).collect();
            start.extend(std::iter::repeat_n(0.0, bs));
            debug_assert_eq!(obs.len(), 2 * bs * d);
            Some(Streams {
                w: 2,
                b: bs,
                burn: 0,
                len: 1,
                obs,
                start,
                actions,
                reward: win.reward,
                discount: win
                    .terminated
                    .iter()
                    .map(|&t| gamma * (1.0 - f(t)))
                    .collect(),
                actor_carry,
                critic_carry,
            })
        }
    }

    /// Run network `net` of `model` over positions `from..to` of the streams.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        model: &AgentModel,
        net: usize,
        s: &Streams,
        (from, to): (usize, usize),
        act: Option<Tensor<3>>,
        carry: Carry,
        dev: &Device,
    ) -> (Tensor<3>, Carry) {
        let (b, d) = (s.b, self.obs_dim);
        let t = to - from;
        let x = tensor(slice_t(&s.obs, from, to, b * d), [t, b, d], dev);
        let x = if net == self.critic.0 {
            let a = act.unwrap_or_else(|| {
                let aw = self.act_dim();
                tensor(slice_t(&s.actions, from, to, b * aw), [t, b, aw], dev)
            });
            self.critic_input(x, Some(a))
        } else {
            x
        };
        let st = tensor(slice_t(&s.start, from, to, b), [t, b], dev);
        let head = if net == self.critic.0 {
            self.critic.1
        } else {
            self.actor.1
        };
        let out = model.forward(net, x, &st, carry);
        (out.heads[head].clone(), out.carry)
    }

    fn eps(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| normal(&mut self.rng)).collect()
    }

    /// One update of critic, actor and temperature; `None` while the buffer cannot sample.
    pub(super) fn update(
        &mut self,
        progress: f64,
    ) -> Result<Option<Vec<(String, f32)>>, AlgoError> {
        let Some(s) = self.streams() else {
            return Ok(None);
        };
        let (b, na, burn, len, w) = (s.b, self.actions, s.burn, s.len, s.w);
        let continuous = self.squash.is_some();
        let scale = self.squash.as_ref().map(|q| q.scale()).unwrap_or_default();
        let alpha = self.temp.alpha();
        let plain = self.plain.clone();
        let valid = self.model.as_ref().expect("model").valid();
        let ca_like = valid.init_carry(self.actor.0, b, &plain);
        let cc_like = valid.init_carry(self.critic.0, b, &plain);
        let ca0 = carry_rows::from_rows(&ca_like, &s.actor_carry, b, &plain);
        let cc0 = carry_rows::from_rows(&cc_like, &s.critic_carry, b, &plain);

        // soft targets from the whole stream, target critics from the stored critic carry
        let (pol, _) = self.run(&valid, self.actor.0, &s, (0, w), None, ca0.clone(), &plain);
        let soft_v: Vec<f32> = if continuous {
            let eps = self.eps(w * b * na);
            let ls = valid.nets[self.actor.0].heads[self.actor.1]
                .log_std()
                .expect("gaussian head");
            let (a, lp) = policy::squashed_sample(pol, ls, tensor(eps, [w, b, na], &plain), &scale);
            let (q, _) = self.run(
                &self.target,
                self.critic.0,
                &s,
                (0, w),
                Some(a),
                cc0.clone(),
                &plain,
            );
            let (q, lp) = (host(q), host(lp));
            (0..w * b)
                .map(|i| q[2 * i].min(q[2 * i + 1]) - alpha * lp[i])
                .collect()
        } else {
            let (p, lp) = policy::categorical(pol);
            let (q, _) = self.run(
                &self.target,
                self.critic.0,
                &s,
                (0, w),
                None,
                cc0.clone(),
                &plain,
            );
            let (q, p, lp) = (host(q), host(p), host(lp));
            (0..w * b)
                .map(|i| {
                    (0..na)
                        .map(|a| {
                            let m = q[i * 2 * na + a].min(q[i * 2 * na + na + a]);
                            p[i * na + a] * (m - alpha * lp[i * na + a])
                        })
                        .sum()
                })
                .collect()
        };
        let y: Vec<f32> = (0..len * b)
            .map(|k| {
                let (t, j) = (burn + k / b, k % b);
                s.reward[k] + s.discount[k] * soft_v[(t + 1) * b + j]
            })
            .collect();

        // burn-in without gradients
        let (ca_b, cc_b) = if burn > 0 {
            let (_, ca) = self.run(&valid, self.actor.0, &s, (0, burn), None, ca0, &plain);
            let (_, cc) = self.run(&valid, self.critic.0, &s, (0, burn), None, cc0, &plain);
            (ca, cc)
        } else {
            (ca0, cc0)
        };
        drop(valid);
        let dev = self.device.clone();
        let span = (burn, burn + len);

        // critic
        let model = self.model.take().expect("model");
        let (q, _) = self.run(
            &model,
            self.critic.0,
            &s,
            span,
            None,
            cc_b.clone().to_device(&dev),
            &dev,
        );
        let (q1, q2): (Tensor<1>, Tensor<1>) = if continuous {
            let q = q.reshape([len * b, 2]);
            (
                q.clone().slice([0..len * b, 0..1]).reshape([len * b]),
                q.slice([0..len * b, 1..2]).reshape([len * b]),
            )
        } else {
            let q = q.reshape([len * b, 2 * na]);
            let acts: Vec<i64> = slice_t(&s.actions, burn, burn + len, b)
                .iter()
                .map(|&a| a as i64)
                .collect();
            let idx = Tensor::<2, Int>::from_data(TensorData::new(acts, [len * b, 1]), &dev);
            (
                q.clone()
                    .slice([0..len * b, 0..na])
                    .gather(1, idx.clone())
                    .reshape([len * b]),
                q.slice([0..len * b, na..2 * na])
                    .gather(1, idx)
                    .reshape([len * b]),
            )
        };
        let yt = tensor(y, [len * b], &dev);
        let q_mean = q1.clone().detach().mean().into_scalar::<f32>();
        let critic_loss = (q1 - yt.clone()).square().mean() + (q2 - yt).square().mean();
        let cl = critic_loss.clone().detach().into_scalar::<f32>();
        if !cl.is_finite() {
            self.model = Some(model);
            return Err(AlgoError::NonFinite(
                "critic_loss".into(),
                cl,
                self.env_steps,
            ));
        }
        let model = step_net(
            &mut self.critic_opt,
            model,
            self.critic.0,
            critic_loss,
            progress,
        );

        // actor
        let (pol, _) = self.run(
            &model,
            self.actor.0,
            &s,
            span,
            None,
            ca_b.to_device(&dev),
            &dev,
        );
        let (actor_loss, entropy) = if continuous {
            let eps = self.eps(len * b * na);
            let ls = model.nets[self.actor.0].heads[self.actor.1]
                .log_std()
                .expect("gaussian head");
            let (a, lp) = policy::squashed_sample(pol, ls, tensor(eps, [len, b, na], &dev), &scale);
            let (q, _) = self.run(
                &model,
                self.critic.0,
                &s,
                span,
                Some(a),
                cc_b.to_device(&dev),
                &dev,
            );
            let q = q.reshape([len * b, 2]);
            let minq = q
                .clone()
                .slice([0..len * b, 0..1])
                .min_pair(q.slice([0..len * b, 1..2]))
                .reshape([len * b]);
            let lp = lp.reshape([len * b]);
            let h = -lp.clone().detach().mean().into_scalar::<f32>();
            ((lp.mul_scalar(alpha) - minq).mean(), h)
        } else {
            let (p, lp) = policy::categorical(pol);
            let (q, _) = self.run(
                &model,
                self.critic.0,
                &s,
                span,
                None,
                cc_b.to_device(&dev),
                &dev,
            );
            let q = q.detach();
            let minq = q.clone().slice([0..len, 0..b, 0..na]).min_pair(q.slice([
                0..len,
                0..b,
                na..2 * na,
            ]));
            let h = -(p.clone() * lp.clone())
                .detach()
                .sum_dim(2)
                .mean()
                .into_scalar::<f32>();
            let per = (p * (lp.mul_scalar(alpha) - minq)).sum_dim(2);
            (per.mean(), h)
        };
        let al = actor_loss.clone().detach().into_scalar::<f32>();
        if !al.is_finite() {
            self.model = Some(model);
            return Err(AlgoError::NonFinite(
                "actor_loss".into(),
                al,
                self.env_steps,
            ));
        }
        let model = step_net(
            &mut self.actor_opt,
            model,
            self.actor.0,
            actor_loss,
            progress,
        );
        self.model = Some(model);

        if self.cfg.autotune {
            let lr = self.actor_opt.lr.at(progress);
            self.temp.update(entropy, self.target_entropy, lr);
        }
        Ok(Some(vec![
            ("critic_loss".into(), cl),
            ("actor_loss".into(), al),
            ("entropy".into(), entropy),
            ("q_mean".into(), q_mean),
        ]))
    }
}
