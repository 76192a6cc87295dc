//! Advantage and return estimators over `[T, B]` rollouts (time-major, row `t` holds `B` envs).

/// Generalised advantage estimation.
///
/// `rewards[t, b]` already includes any truncation bootstrap; `dones[t, b]` is true when the step
/// ended the episode (terminated or truncated), which cuts the trace. `values[t, b]` are the
/// critic's values of the observations the actions were taken in and `last_value[b]` is the value
/// of the observation after the final step. Returns `(advantages, returns)`.
pub fn gae(
    rewards: &[f32],
    values: &[f32],
    dones: &[bool],
    last_value: &[f32],
    gamma: f32,
    lambda: f32,
) -> (Vec<f32>, Vec<f32>) {
    let b = last_value.len();
    let t_len = rewards.len() / b;
    let mut adv = vec![0.0; rewards.len()];
    let mut next_adv = vec![0.0f32; b];
    let mut next_value = last_value.to_vec();
    for t in (0..t_len).rev() {
        for e in 0..b {
            let i = t * b + e;
            let nonterminal = if dones[i] { 0.0 } else { 1.0 };
            let delta = rewards[i] + gamma * next_value[e] * nonterminal - values[i];
            let a = delta + gamma * lambda * nonterminal * next_adv[e];
            adv[i] = a;
            next_adv[e] = a;
            next_value[e] = values[i];
        }
    }
    let ret = adv.iter().zip(values).map(|(a, v)| a + v).collect();
    (adv, ret)
}

/// Q(λ) targets for PQN: `G_t = r_t + γ (1 − d_t) [(1 − λ) max_a Q(s_{t+1}) + λ G_{t+1}]`,
/// with `G` after the last step equal to `last_max_q`.
///
/// `next_max_q[t, b]` is `max_a Q(s_{t+1}, a)` under the behaviour network.
pub fn lambda_returns(
    rewards: &[f32],
    next_max_q: &[f32],
    dones: &[bool],
    last_max_q: &[f32],
    gamma: f32,
    lambda: f32,
) -> Vec<f32> {
    let b = last_max_q.len();
    let t_len = rewards.len() / b;
    let mut out = vec![0.0; rewards.len()];
    let mut g_next = last_max_q.to_vec();
    for t in (0..t_len).rev() {
        for (e, gn) in g_next.iter_mut().enumerate() {
            let i = t * b + e;
            let nonterminal = if dones[i] { 0.0 } else { 1.0 };
            let boot = if t + 1 == t_len {
                *gn
            } else {
                (1.0 - lambda) * next_max_q[i] + lambda * *gn
            };
            let g = rewards[i] + gamma * nonterminal * boot;
            out[i] = g;
            *gn = g;
        }
    }
    out
}

/// Normalise to zero mean and unit standard deviation (in place).
pub fn normalize(x: &mut [f32]) {
    let n = x.len() as f32;
    if n < 2.0 {
        return;
    }
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / (n - 1.0);
    let std = var.sqrt() + 1e-8;
    x.iter_mut().for_each(|v| *v = (*v - mean) / std);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gae_matches_hand_computation() {
        // one env, three steps, episode ends after step 1
        let rewards = [1.0, 2.0, 3.0];
        let values = [0.5, 1.0, 1.5];
        let dones = [false, true, false];
        let (g, l) = (0.9f32, 0.8f32);
        let (adv, ret) = gae(&rewards, &values, &dones, &[2.0], g, l);
        let d2 = 3.0 + g * 2.0 - 1.5;
        let d1 = 2.0 - 1.0; // terminal: no bootstrap
        let d0 = 1.0 + g * 1.0 - 0.5;
        let a2 = d2;
        let a1 = d1;
        let a0 = d0 + g * l * a1;
        for (x, y) in adv.iter().zip([a0, a1, a2]) {
            assert!((x - y).abs() < 1e-6, "{x} vs {y}");
        }
        assert!((ret[0] - (a0 + 0.5)).abs() < 1e-6);
    }

    #[test]
    fn gae_is_per_env() {
        // two envs interleaved [t, b]; env 1 terminates at t = 0
        let rewards = [1.0, 1.0, 1.0, 1.0];
        let values = [0.0; 4];
        let dones = [false, true, false, false];
        let (adv, _) = gae(&rewards, &values, &dones, &[0.0, 0.0], 1.0, 1.0);
        assert_eq!(adv, vec![2.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn lambda_returns_match_hand_computation() {
        let rewards = [1.0, 1.0];
        let next_max_q = [4.0, 0.0];
        let dones = [false, false];
        let (g, l) = (0.5f32, 0.5f32);
        let out = lambda_returns(&rewards, &next_max_q, &dones, &[2.0], g, l);
        let g1 = 1.0 + g * 2.0;
        let g0 = 1.0 + g * ((1.0 - l) * 4.0 + l * g1);
        assert!(
            (out[1] - g1).abs() < 1e-6 && (out[0] - g0).abs() < 1e-6,
            "{out:?}"
        );
        // a terminal step does not bootstrap
        let out = lambda_returns(&rewards, &next_max_q, &[false, true], &[2.0], g, l);
        assert!((out[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn normalize_gives_zero_mean_unit_std() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        normalize(&mut x);
        let mean: f32 = x.iter().sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-6);
        let var = x.iter().map(|v| v * v).sum::<f32>() / 3.0;
        assert!((var - 1.0).abs() < 1e-4);
    }
}
