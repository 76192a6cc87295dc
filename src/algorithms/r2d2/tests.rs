use super::*;
use crate::check::ir::Value;
use crate::lower::ir_builder as b;

fn agent() -> ir::Agent {
    let env = crate::envs::info("popgym::PositionOnlyCartPoleEasy").expect("env");
    let net = b::network(
        "q",
        b::mlp(env.obs_dim, &[8], "tanh"),
        b::gru(8, 8),
        vec![("q", b::head("q", 8, 2))],
    );
    b::agent(
        "r2d2",
        env,
        "r2d2",
        vec![
            ("num_envs", Value::Int(2)),
            ("buffer_size", Value::Int(400)),
            ("batch_size", Value::Int(8)),
            ("learning_starts", Value::Int(1_000_000)),
            ("burn_in", Value::Int(2)),
            ("seq_len", Value::Int(3)),
            ("n_step", Value::Int(2)),
        ],
        vec![net],
        vec![],
        10_000,
        5,
    )
}

#[test]
fn stored_carry_is_the_actors_carry_before_each_step() {
    let dev = Device::flex();
    let mut r = R2d2::new(&agent(), &dev).expect("builds");
    assert!(r.recurrent);
    let valid = r.model.as_ref().expect("model").valid();
    for _ in 0..60 {
        r.act_and_store(&valid);
    }
    let win = r.replay.sample(8, &mut r.rng).expect("windows");
    let cf = r.replay.layout().carry_dim;
    assert!(cf > 0);
    for (j, &slot) in win.slots.iter().enumerate() {
        // one step from the stored carry reproduces the carry stored with the next step
        let c = carry_rows::from_rows(
            &valid.init_carry(0, 1, &r.plain),
            &win.carry[j * cf..(j + 1) * cf],
            1,
            &r.plain,
        );
        let d = r.obs_dim;
        let x = tensor(win.obs[j * d..(j + 1) * d].to_vec(), [1, 1, d], &r.plain);
        let s = tensor(vec![win.start[j] as u8 as f32], [1, 1], &r.plain);
        let next = carry_rows::to_rows(&valid.forward(0, x, &s, c).carry, 1);
        let stored = r.replay.carry_at(slot + 1);
        for (a, b) in next.iter().zip(stored) {
            assert!((a - b).abs() < 1e-5, "slot {slot}: {a} vs {b}");
        }
    }
}

#[test]
fn a_gradient_step_runs_and_sets_finite_priorities() {
    let dev = Device::flex().autodiff();
    let mut r = R2d2::new(&agent(), &dev).expect("builds");
    let valid = r.model.as_ref().expect("model").valid();
    for _ in 0..60 {
        r.act_and_store(&valid);
    }
    drop(valid);
    let out = r.train_step(0.5).expect("finite").expect("sampled");
    assert!(out.loss.is_finite() && out.priority > 0.0);
}
