//! The native multi-agent suite: physics invariants of simple spread, the batch layout (agents
//! folded into rows), determinism, auto-reset, save/load, random baselines and scripted policies
//! that beat them.

use memoraxc::envs::multiagent::recall::{CUES, CueRecall, RECALL_STEPS};
use memoraxc::envs::multiagent::spread::{self, AGENT_SIZE, DAMPING, DT, SimpleSpread};
use memoraxc::envs::multiagent::{MultiEnv, MultiVectorized};
use memoraxc::envs::rng::Rng;
use memoraxc::envs::{self, Actions, StepBatch, VecEnv, baseline};

fn spread3() -> SimpleSpread {
    let mut e = SimpleSpread::new(3);
    let mut obs = vec![0.0; 3 * e.obs_dim()];
    e.reset(&mut Rng::new(5), &mut obs);
    e
}

#[test]
fn spread_spaces_and_registry() {
    let info = envs::info("mpe::SimpleSpread-3").unwrap();
    assert_eq!(info.agents, 3);
    assert_eq!(info.obs_dim, 14);
    assert_eq!(info.max_steps, Some(25));
    let env = envs::make("mpe::SimpleSpread-3", 4).unwrap();
    assert_eq!(env.num_envs(), 12, "4 copies x 3 agents");
    let recall = envs::info("marl::CueRecall-2").unwrap();
    assert_eq!((recall.agents, recall.obs_dim), (2, CUES + 1 + 2));
}

#[test]
fn damping_without_contact() {
    let mut e = SimpleSpread::new(2);
    let mut obs = vec![0.0; 2 * e.obs_dim()];
    let mut rng = Rng::new(1);
    // find a start where the agents are far apart
    loop {
        e.reset(&mut rng, &mut obs);
        let p = e.positions();
        let d = ((p[0][0] - p[1][0]).powi(2) + (p[0][1] - p[1][1]).powi(2)).sqrt();
        if d > 1.0 {
            break;
        }
    }
    // push agent 0 right once: v = F·dt with F = 5
    let p0 = e.positions()[0];
    e.integrate(&[2, 0]);
    let v = e.velocities()[0];
    assert!((v[0] - 5.0 * DT).abs() < 1e-6 && v[1] == 0.0, "{v:?}");
    assert!((e.positions()[0][0] - (p0[0] + v[0] * DT)).abs() < 1e-6);
    assert_eq!(e.velocities()[1], [0.0, 0.0]);
    // no-ops: velocity decays geometrically by (1 - damping)
    for _ in 0..5 {
        let before = e.velocities()[0][0];
        e.integrate(&[0, 0]);
        let after = e.velocities()[0][0];
        assert!((after - before * (1.0 - DAMPING)).abs() < 1e-6);
    }
    // total coasting distance from speed v is v·dt·(1-d)/d
    let x = e.positions()[0][0];
    for _ in 0..400 {
        e.integrate(&[0, 0]);
    }
    let v5 = 5.0 * DT * (1.0 - DAMPING).powi(5);
    let coast = v5 * DT * (1.0 - DAMPING) / DAMPING;
    assert!((e.positions()[0][0] - x - coast).abs() < 1e-4);
}

#[test]
fn contact_forces_separate_and_conserve_momentum() {
    let mut e = SimpleSpread::new(3);
    let mut obs = vec![0.0; 3 * e.obs_dim()];
    let mut rng = Rng::new(11);
    let mut seen_collision = false;
    for _ in 0..400 {
        e.reset(&mut rng, &mut obs);
        if e.collisions() == 0 {
            continue;
        }
        seen_collision = true;
        let c0 = e.collisions();
        e.integrate(&[0, 0, 0]);
        // contact forces are equal and opposite: the momentum sum stays zero
        let s = e
            .velocities()
            .iter()
            .fold([0.0f32; 2], |a, v| [a[0] + v[0], a[1] + v[1]]);
        assert!(s[0].abs() < 1e-4 && s[1].abs() < 1e-4, "{s:?}");
        for _ in 0..30 {
            e.integrate(&[0, 0, 0]);
        }
        assert!(e.collisions() <= c0, "contacts push agents apart");
    }
    assert!(seen_collision);
}

#[test]
fn spread_observation_and_reward() {
    let e = spread3();
    let mut obs = vec![0.0; 3 * 14];
    let mut e2 = e.clone();
    let mut rewards = [0.0; 3];
    e2.step(&[0, 0, 0], &mut Rng::new(0), &mut obs, &mut rewards);
    let (p, l) = (e2.positions(), e2.landmarks());
    for i in 0..3 {
        let row = &obs[i * 14..(i + 1) * 14];
        assert_eq!(&row[2..4], &p[i]);
        for (k, lm) in l.iter().enumerate() {
            assert!((row[4 + 2 * k] - (lm[0] - p[i][0])).abs() < 1e-6);
            assert!((row[5 + 2 * k] - (lm[1] - p[i][1])).abs() < 1e-6);
        }
        let others: Vec<usize> = (0..3).filter(|&j| j != i).collect();
        for (k, &j) in others.iter().enumerate() {
            assert!((row[10 + 2 * k] - (p[j][0] - p[i][0])).abs() < 1e-6);
        }
    }
    let d = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let cover: f32 = l
        .iter()
        .map(|&lm| p.iter().map(|&q| d(q, lm)).fold(f32::MAX, f32::min))
        .sum();
    let mut pairs = 0;
    for i in 0..3 {
        for j in i + 1..3 {
            pairs += usize::from(d(p[i], p[j]) < 2.0 * AGENT_SIZE);
        }
    }
    let want = -cover - pairs as f32;
    assert!(
        rewards.iter().all(|&r| (r - want).abs() < 1e-5),
        "shared reward"
    );
}

fn trace(id: &str, n: usize, which: usize, steps: usize) -> Vec<f32> {
    let mut env = envs::make(id, n).unwrap();
    let info = env.info().clone();
    let rows = n * info.agents;
    let mut out = StepBatch::new(rows, info.obs_dim);
    env.reset(9, &mut out);
    let d = info.obs_dim;
    let mut policy: Vec<Rng> = (0..rows).map(|i| Rng::for_index(3, i as u64, 1)).collect();
    let k = match info.action {
        memoraxc::check::ir::ActionSpace::Discrete(k) => k as u32,
        _ => unreachable!(),
    };
    let mut t = Vec::new();
    for _ in 0..steps {
        let a = Actions::Discrete(policy.iter_mut().map(|r| r.below(k)).collect());
        env.step(&a, &mut out);
        let span = which * info.agents * d..(which + 1) * info.agents * d;
        t.extend_from_slice(&out.obs[span]);
        t.push(out.reward[which * info.agents]);
    }
    t
}

#[test]
fn deterministic_by_seed_and_batch_independent() {
    for id in ["mpe::SimpleSpread-3", "marl::CueRecall-2"] {
        let a = trace(id, 2, 1, 60);
        assert_eq!(a, trace(id, 2, 1, 60), "{id}");
        assert_eq!(a, trace(id, 5, 1, 60), "{id}: depends on the batch size");
        assert_ne!(a, trace(id, 2, 0, 60), "{id}: copies share a stream");
    }
}

#[test]
fn auto_reset_flags_and_team_statistics() {
    let mut env = envs::make("mpe::SimpleSpread-3", 2).unwrap();
    let mut out = StepBatch::new(6, 14);
    env.reset(0, &mut out);
    assert!(out.start.iter().all(|&s| s));
    let mut team = 0.0f64;
    for t in 1..=25 {
        env.step(&Actions::Discrete(vec![1, 2, 3, 4, 0, 1]), &mut out);
        team += out.reward[0] as f64;
        for r in 0..6 {
            assert_eq!(out.truncated[r], t == 25);
            assert!(!out.terminated[r]);
            assert_eq!(out.start[r], t == 25);
        }
        if t < 25 {
            // final_obs rows are written only at episode ends
            assert_eq!(&out.reward[0..3], &[out.reward[0]; 3]);
        }
    }
    assert!((out.episode_return[0] as f64 - team).abs() < 1e-3);
    assert_eq!(out.episode_return[0], out.episode_return[2]);
    assert_eq!(out.episode_length, vec![25; 6]);
    assert_ne!(
        out.final_obs[..14],
        out.obs[..14],
        "obs is the next episode's"
    );
}

#[test]
fn save_and_load_resume_exactly() {
    for id in ["mpe::SimpleSpread-2", "marl::CueRecall-3"] {
        let mut env = envs::make(id, 3).unwrap();
        let info = env.info().clone();
        let rows = 3 * info.agents;
        let mut out = StepBatch::new(rows, info.obs_dim);
        env.reset(4, &mut out);
        let acts = |t: usize| Actions::Discrete((0..rows).map(|r| ((r + t) % 4) as u32).collect());
        for t in 0..13 {
            env.step(&acts(t), &mut out);
        }
        let snap = env.save_state();
        let mut other = envs::make(id, 3).unwrap();
        other.load_state(&snap).unwrap();
        let mut out2 = out.clone();
        for t in 13..60 {
            env.step(&acts(t), &mut out);
            other.step(&acts(t), &mut out2);
            assert_eq!(out, out2, "{id} step {t}");
        }
        assert!(envs::make(id, 2).unwrap().load_state(&snap).is_err());
        assert!(
            envs::make("mpe::SimpleSpread-3", 3)
                .unwrap()
                .load_state(&snap)
                .is_err()
        );
    }
}

/// Team return of a scripted simple-spread policy on `episodes` seeded episodes.
fn scripted_spread(episodes: usize) -> f64 {
    let info = envs::info("mpe::SimpleSpread-3").unwrap();
    let mut env = MultiVectorized::new(info, episodes, || SimpleSpread::new(3));
    let mut out = StepBatch::new(episodes * 3, 14);
    env.reset(0, &mut out);
    for _ in 0..25 {
        let a: Vec<u32> = (0..episodes * 3)
            .map(|r| spread::scripted_action(&out.obs[r * 14..(r + 1) * 14], r % 3))
            .collect();
        env.step(&Actions::Discrete(a), &mut out);
    }
    (0..episodes)
        .map(|i| out.episode_return[i * 3] as f64)
        .sum::<f64>()
        / episodes as f64
}

#[test]
fn random_baseline_and_scripted_policy() {
    let rand = baseline::random("mpe::SimpleSpread-3", 200, 0).unwrap();
    assert_eq!(rand.episodes, 200);
    assert_eq!(rand.length_mean, 25.0);
    // random agents drift little: the team stays far from covering the landmarks
    assert!(
        rand.return_mean < -40.0 && rand.return_mean > -120.0,
        "{}",
        rand.return_mean
    );
    let scripted = scripted_spread(200);
    eprintln!(
        "simple spread: random {:.2}, scripted {scripted:.2}",
        rand.return_mean
    );
    assert!(
        scripted > rand.return_mean + 15.0,
        "scripted {scripted} vs random {}",
        rand.return_mean
    );
}

#[test]
fn cue_recall_needs_memory() {
    let rand = baseline::random("marl::CueRecall-2", 400, 1).unwrap();
    assert_eq!(rand.length_mean, (1 + RECALL_STEPS) as f64);
    assert!(
        (rand.return_mean - 1.0 / CUES as f64).abs() < 0.04,
        "{}",
        rand.return_mean
    );
    // a policy that remembers the first observation's cue earns the maximum, 1
    let info = envs::info("marl::CueRecall-2").unwrap();
    let d = info.obs_dim;
    let n = 64;
    let mut env = MultiVectorized::new(info, n, || CueRecall::new(2));
    let mut out = StepBatch::new(2 * n, d);
    env.reset(2, &mut out);
    let cue_of = |row: &[f32]| row[..CUES].iter().position(|&x| x == 1.0);
    let memory: Vec<u32> = (0..2 * n)
        .map(|r| cue_of(&out.obs[r * d..(r + 1) * d]).unwrap() as u32)
        .collect();
    for (r, m) in memory.iter().enumerate() {
        assert_eq!(*m, env.envs()[r / 2].cues()[r % 2] as u32);
    }
    // every later observation of an agent is identical: nothing to read the cue from
    let mut later: Option<Vec<f32>> = None;
    for _ in 0..=RECALL_STEPS {
        env.step(&Actions::Discrete(memory.clone()), &mut out);
        if !out.start[0] {
            let row = out.obs[..d].to_vec();
            assert!(cue_of(&row).is_none());
            assert!(later.as_ref().is_none_or(|l| *l == row));
            later = Some(row);
        }
    }
    assert!(out.terminated.iter().all(|&t| t));
    assert!(out.episode_return.iter().all(|&r| (r - 1.0).abs() < 1e-5));
}
