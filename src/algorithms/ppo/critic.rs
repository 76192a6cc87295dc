//! The critic's rollout values, computed on a second thread in sequence form.
//!
//! When actor and critic are separate networks the actor alone decides the actions, so the
//! critic need not run at every rollout step: the rollout sends it chunks of observed steps
//! (`[T, B]` with their episode starts) and the critic runs each chunk as one sequence, which the
//! runtime contract makes equal to stepping (SPEC §6), while the actor goes on stepping. A chunk
//! may end with a probe: the values of other observations from the carry reached, without
//! advancing it (the true last observation of a truncated episode, or the observation after the
//! rollout). Chunks are cut at fixed steps and at truncations only, so the values never depend
//! on thread timing.

use std::sync::mpsc::Receiver;

use burn::prelude::Device;

use crate::algorithms::common::{host, tensor};
use crate::runtime::carry::Carry;
use crate::runtime::net::AgentModel;

/// Steps per chunk sent to the critic (a truncation ends a chunk early).
pub(super) const CHUNK: usize = 16;

/// One piece of work for the critic thread.
pub(super) struct Job {
    /// Observations `[steps, B, F]`, time-major.
    pub obs: Vec<f32>,
    /// Episode-start flags `[steps, B]` (1.0 resets the carry before that step).
    pub starts: Vec<f32>,
    /// Steps in this chunk (may be 0 for a probe alone).
    pub steps: usize,
    /// Observations `[1, B, F]` and starts `[1, B]` to value from the carry after the chunk,
    /// without advancing it.
    pub probe: Option<(Vec<f32>, Vec<f32>)>,
}

/// What the critic thread returns when the rollout ends.
pub(super) struct Values {
    /// Values of every chunked step, time-major `[T, B]`.
    pub values: Vec<f32>,
    /// Values of each probe, in the order they were sent.
    pub probes: Vec<Vec<f32>>,
    /// The critic's carry after the last chunk.
    pub carry: Carry,
}

/// Runs the critic `net` (network, head) over the jobs in order until the sender hangs up.
pub(super) fn serve(
    model: &AgentModel,
    net: (usize, usize),
    mut carry: Carry,
    (b, f): (usize, usize),
    device: &Device,
    jobs: Receiver<Job>,
) -> Values {
    let mut values = Vec::new();
    let mut probes = Vec::new();
    for job in jobs {
        if job.steps > 0 {
            let obs = tensor(job.obs, [job.steps, b, f], device);
            let starts = tensor(job.starts, [job.steps, b], device);
            let out = model.forward(net.0, obs, &starts, carry);
            values.extend(host(out.heads[net.1].clone()));
            carry = out.carry;
        }
        if let Some((obs, starts)) = job.probe {
            let obs = tensor(obs, [1, b, f], device);
            let starts = tensor(starts, [1, b], device);
            let out = model.forward(net.0, obs, &starts, carry.clone());
            probes.push(host(out.heads[net.1].clone()));
        }
    }
    Values {
        values,
        probes,
        carry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::common::{flag_values, flags};
    use burn::module::Module;

    /// A separate GRU critic: chunks with resets and probes give the values of stepping.
    #[test]
    fn chunked_values_equal_stepping() {
        let src = r#"
agent a {
  env = "gymnax::CartPole-v1"
  algorithm = ppo(num_envs = 3, num_steps = 8, minibatches = 1)
  encoder = mlp(16)
  torso = stack(residual(prenorm(gru(16))), ffn)
  actor = categorical()
  critic = value()
  train { steps = 100 }
}
"#;
        let device = Device::flex().autodiff();
        let lowered = crate::lower::lower_source(src, &device);
        let critic = lowered.head("critic").expect("critic");
        let model = lowered.model.valid();
        let plain = device.clone().inner();
        let (b, f, steps) = (3, 4, 11);
        let obs: Vec<f32> = (0..steps * b * f)
            .map(|i| ((i * 37 % 17) as f32 / 8.0) - 1.0)
            .collect();
        let starts: Vec<bool> = (0..steps * b).map(|i| i % 7 == 3).collect();
        let start0 = model.init_carry(critic.0, b, &plain);

        // stepping, one step at a time
        let mut carry = start0.clone();
        let mut stepped = Vec::new();
        for t in 0..steps {
            let o = tensor(obs[t * b * f..(t + 1) * b * f].to_vec(), [1, b, f], &plain);
            let s = flags(&starts[t * b..(t + 1) * b], &plain);
            let out = model.forward(critic.0, o, &s, carry);
            stepped.extend(host(out.heads[critic.1].clone()));
            carry = out.carry;
        }
        let probe_obs: Vec<f32> = (0..b * f).map(|i| i as f32 * 0.1).collect();
        let o = tensor(probe_obs.clone(), [1, b, f], &plain);
        let probe_stepped = host(
            model
                .forward(critic.0, o, &tensor(vec![0.0; b], [1, b], &plain), carry)
                .heads[critic.1]
                .clone(),
        );

        // chunks of 4, 0 (probe only), 7 then the probe
        let (tx, rx) = std::sync::mpsc::channel();
        let fl = flag_values(&starts);
        for (from, to, probe) in [(0, 4, false), (4, 4, true), (4, steps, true)] {
            tx.send(Job {
                obs: obs[from * b * f..to * b * f].to_vec(),
                starts: fl[from * b..to * b].to_vec(),
                steps: to - from,
                probe: probe.then(|| (probe_obs.clone(), vec![0.0; b])),
            })
            .expect("send");
        }
        drop(tx);
        let got = serve(&model, critic, start0, (b, f), &plain, rx);
        assert_eq!(got.values.len(), stepped.len());
        for (x, y) in got.values.iter().zip(&stepped) {
            assert!((x - y).abs() < 1e-5, "chunked {x} vs stepped {y}");
        }
        assert_eq!(got.probes.len(), 2);
        for (x, y) in got.probes[1].iter().zip(&probe_stepped) {
            assert!((x - y).abs() < 1e-5, "probe {x} vs stepped {y}");
        }
    }
}
