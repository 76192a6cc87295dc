use super::super::common::param_values as flat;
use super::*;
use crate::runtime::basic::Mlp;

fn args(pairs: &[(&str, f64)]) -> Args {
    Args(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::Float(*v)))
            .collect(),
    )
}

/// A squared-output loss of `model` on a fixed batch (different per step).
fn loss(model: &Mlp, step: usize, dev: &Device) -> Tensor<1> {
    let x: Vec<f32> = (0..18)
        .map(|i| ((i * 7 + step * 3) % 11) as f32 / 5.0 - 1.0)
        .collect();
    let x = Tensor::<2>::from_data(TensorData::new(x, [6, 3]), dev);
    model.forward(x).square().mean().mul_scalar(50.0)
}

/// Runs `steps` updates with the host optimizer and with burn's (same initial model, same
/// batches) and returns both parameter vectors and the norms reported.
fn host_and_burn(name: &str, a: &Args, steps: usize) -> (Vec<f32>, Vec<f32>, Vec<(f32, f32)>) {
    let dev = Device::flex().autodiff();
    let mut m1 = Mlp::new(3, &[5, 2], "tanh", &dev);
    let mut m2 = m1.clone();
    let (mut o1, mut o2) = (Optim::new(name, a), Optim::new(name, a));
    o2.on_burn = true;
    let mut norms = Vec::new();
    for s in 0..steps {
        let (n1, n2);
        (m1, n1) = o1.step(m1.clone(), loss(&m1, s, &dev), 0.0);
        (m2, n2) = o2.step(m2.clone(), loss(&m2, s, &dev), 0.0);
        norms.push((n1, n2));
    }
    assert!(!o1.on_burn, "a Flex model takes the host optimizer");
    (flat(&m1), flat(&m2), norms)
}

fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < tol, "{what}: parameters differ by {worst}");
}

#[test]
fn host_adam_matches_burn_adam() {
    let (a, b, norms) = host_and_burn("adam", &args(&[("lr", 1e-2)]), 6);
    assert_close(&a, &b, 2e-5, "adam");
    for (n1, n2) in norms {
        assert!((n1 - n2).abs() <= 1e-4 * n2.max(1.0), "norms {n1} vs {n2}");
    }
}

#[test]
fn host_adamw_and_clipping_match_burn() {
    let a = args(&[("lr", 1e-2), ("weight_decay", 0.1), ("clip_norm", 0.05)]);
    let (x, y, norms) = host_and_burn("adamw", &a, 6);
    assert_close(&x, &y, 2e-5, "adamw + clip");
    assert!(
        norms.iter().all(|(n, _)| *n > 0.05),
        "the clip must be active for this test to mean anything: {norms:?}"
    );
}

#[test]
fn host_state_round_trips_and_rejects_corrupt_bytes() {
    let dev = Device::flex().autodiff();
    let a = args(&[("lr", 1e-2)]);
    let m = Mlp::new(3, &[4], "relu", &dev);
    let mut o = Optim::new("adam", &a);
    let (m, _) = o.step(m.clone(), loss(&m, 0, &dev), 0.0);
    let bytes = o.to_bytes();
    assert!(bytes.starts_with(HOST_MAGIC));
    let mut restored = Optim::new("adam", &a);
    restored.load_bytes(bytes.clone()).expect("round trip");
    assert_eq!(restored.host.moments, o.host.moments);
    // Continuing from the restored state equals continuing from the original.
    let (m1, _) = o.step(m.clone(), loss(&m, 1, &dev), 0.0);
    let (m2, _) = restored.step(m.clone(), loss(&m, 1, &dev), 0.0);
    assert_eq!(flat(&m1), flat(&m2));
    for cut in [9, 20, bytes.len() - 1] {
        let err = Optim::new("adam", &a)
            .load_bytes(bytes[..cut].to_vec())
            .expect_err("truncated state must be rejected");
        assert!(err.contains("corrupt optimizer state"), "{err}");
    }
    let mut garbage = bytes.clone();
    garbage.push(7);
    assert!(Optim::new("adam", &a).load_bytes(garbage).is_err());
}

/// Separate networks clip their gradients each on its own (as memorax's separate actor and
/// critic optimizers): `apply_nets` on one thread, on spawned threads, on the fork's helper, and
/// one [`NetAdam`] share per network all equal an optimizer per network, and differ from one
/// clip over all parameters.
#[test]
fn networks_clip_and_step_on_their_own() {
    let src = r#"
agent a {
  env = "gymnax::CartPole-v1"
  algorithm = ppo(num_envs = 2, num_steps = 4, minibatches = 1)
  encoder = mlp(64)
  torso = stack(residual(prenorm(gru(64))), ffn) * 2
  actor = categorical()
  critic = value()
  train { steps = 100 }
}
"#;
    let dev = Device::flex().autodiff();
    let model = crate::lower::lower_source(src, &dev).model;
    assert!(model.nets.len() == 2 && model.num_params() >= PARALLEL_OPTIM_MIN);
    let loss = |m: &AgentModel| {
        let obs = Tensor::<3>::from_data(
            TensorData::new((0..24).map(|i| (i % 5) as f32 - 2.0).collect(), [3, 2, 4]),
            &dev,
        );
        let starts = Tensor::<2>::zeros([3, 2], &dev);
        let plain = dev.clone().inner();
        let mut total = Tensor::<1>::zeros([1], &dev);
        for net in 0..m.nets.len() {
            let c = m.init_carry(net, 2, &plain).map(&mut |t| t.autodiff());
            let y = m.forward(net, obs.clone(), &starts, c).heads[0].clone();
            total = total + y.square().sum().reshape([1]);
        }
        total
    };
    // far below every network's gradient norm, whatever the random initialisation
    const CLIP: f32 = 1e-3;
    let a = args(&[("lr", 1e-3), ("clip_norm", CLIP as f64)]);
    // reference: one optimizer per network
    let mut own = [Optim::new("adam", &a), Optim::new("adam", &a)];
    let mut whole = Optim::new("adam", &a);
    let (mut reference, mut global) = (model.clone(), model.clone());
    let (mut norms, mut smallest) = (Vec::new(), f32::INFINITY);
    for _ in 0..2 {
        let mut squares = 0.0f32;
        for (i, o) in own.iter_mut().enumerate() {
            let g = GradientsParams::from_grads(loss(&reference).backward(), &reference.nets[i]);
            let (net, n) = o.apply(reference.nets[i].clone(), g, 0.0);
            reference.nets[i] = net;
            squares += n * n;
            smallest = smallest.min(n);
        }
        norms.push(squares.sqrt());
        let g = GradientsParams::from_grads(loss(&global).backward(), &global);
        (global, _) = whole.apply(global, g, 0.0);
    }
    assert!(
        smallest > CLIP,
        "clipping must act for this test to mean anything"
    );
    assert_ne!(
        flat(&reference),
        flat(&global),
        "per-network and global clipping differ"
    );
    let fork = Fork::new();
    let threads = [
        nets::Threads::One,
        nets::Threads::Spawn,
        fork.as_ref()
            .map_or(nets::Threads::One, nets::Threads::Fork),
    ];
    for t in threads {
        let mut o = Optim::new("adam", &a);
        let mut m = model.clone();
        for norm in &norms {
            let g = GradientsParams::from_grads(loss(&m).backward(), &m);
            let lr = o.lr.at(0.0) as f32;
            let n;
            (m, n) = o.host.step_nets(m, g, lr, Some(CLIP), t);
            assert!((n - norm).abs() <= 1e-5 * norm, "norm {n} vs {norm}");
        }
        assert_eq!(flat(&m), flat(&reference));
    }
    // shares: each network stepped alone
    let mut o = Optim::new("adam", &a);
    let mut m = model.clone();
    for _ in 0..2 {
        for i in 0..2 {
            let mut share = o.take_net(&m.nets[i], 0.0).expect("host optimizer");
            let sub = m.alone(m.nets[i].clone());
            let g = GradientsParams::from_grads(loss(&sub).backward(), &sub);
            let (mut sub, _) = share.step(sub, g);
            m.nets[i] = sub.nets.pop().expect("one network");
            o.give_net(share);
        }
    }
    assert_eq!(flat(&m), flat(&reference));
    assert_eq!(
        o.host.moments,
        own[0]
            .host
            .moments
            .clone()
            .into_iter()
            .chain(own[1].host.moments.clone())
            .collect()
    );
}

#[test]
fn split_updates_equal_whole_ones() {
    let Some(fork) = Fork::new() else { return };
    let n = SPLIT_MIN + 37;
    let grad = |step: usize| -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 13 + step * 7) % 29) as f32 / 14.0 - 1.0)
            .collect()
    };
    let id = ParamId::new();
    let (mut whole, mut split) = (HostAdam::new(1e-8, None), HostAdam::new(1e-8, None));
    let (mut a, mut b) = (vec![0.5f32; n], vec![0.5f32; n]);
    for step in 0..3 {
        whole.update(id, &mut a, &grad(step), 1e-2, 1.0);
        split.update_split(id, &mut b, &grad(step), 1e-2, 1.0, Some(&fork));
    }
    assert_eq!(a, b);
    assert!(
        a.iter().any(|&x| x != 0.5),
        "the updates moved the parameter"
    );
}
