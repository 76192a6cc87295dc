//! Checker rules for image encoders on grid observations and for intrinsic-reward modules.

use memoraxc::check;

fn codes(src: &str) -> Vec<String> {
    let out = check::check_source("t.mx", src, &[]);
    out.diagnostics
        .diags
        .iter()
        .map(|d| d.code.to_string())
        .collect()
}

fn agent(env: &str, algo: &str, encoder: &str, extra: &str) -> String {
    let heads = if algo == "dqn" {
        "q = q()"
    } else {
        "actor = categorical()\n  critic = value()"
    };
    format!(
        "agent a {{\n  env = \"{env}\"\n  algorithm = {algo}()\n  encoder = {encoder}\n  {heads}\n  {extra}\n  train {{ steps = 1000 }}\n}}\n"
    )
}

#[test]
fn image_encoders_take_the_env_image_shape() {
    let src = agent("minigrid::Empty-5x5", "ppo", "cnn(8, 16) -> mlp(32)", "");
    let out = check::check_source("t.mx", &src, &[]);
    assert!(
        out.diagnostics.diags.is_empty(),
        "{}",
        out.diagnostics.render(false)
    );
    let enc = &out.program.agents[0].networks[0].encoder;
    assert_eq!(enc.children[0].output, 7 * 7 * 16);
    // 3 input channels: 3·3·3·8 + 8 + 3·3·8·16 + 16
    assert_eq!(enc.children[0].params, 224 + 1168);
    assert!(
        codes(&agent(
            "minigrid::Empty-5x5",
            "ppo",
            "vit(patch = 7, heads = 4)",
            ""
        ))
        .is_empty()
    );
}

#[test]
fn image_encoder_shape_errors() {
    // 7 is not divisible by 2
    assert_eq!(
        codes(&agent("minigrid::Empty-5x5", "ppo", "vit(patch = 2)", "")),
        ["MX0306"]
    );
    // even kernels cannot keep the side
    assert_eq!(
        codes(&agent(
            "minigrid::Empty-5x5",
            "ppo",
            "cnn(8, kernel = 2)",
            ""
        )),
        ["MX0306"]
    );
    // a wrong explicit side does not tile the observation
    assert_eq!(
        codes(&agent("minigrid::Empty-5x5", "ppo", "cnn(8, side = 5)", "")),
        ["MX0301"]
    );
    // token width must split over the heads
    assert_eq!(
        codes(&agent(
            "minigrid::Empty-5x5",
            "ppo",
            "vit(patch = 7, heads = 3, width = 64)",
            ""
        ))
        .len(),
        1
    );
}

#[test]
fn intrinsic_slot_rules() {
    let ok = agent(
        "minigrid::FourRooms",
        "ppo",
        "mlp(64)",
        "intrinsic = rnd(features = 32)",
    );
    assert!(codes(&ok).is_empty());
    let ok = agent(
        "minigrid::FourRooms",
        "ppo",
        "mlp(64)",
        "intrinsic = icm(beta = 0.2)",
    );
    assert!(codes(&ok).is_empty());
    let dqn = agent("minigrid::FourRooms", "dqn", "mlp(64)", "intrinsic = rnd()");
    assert_eq!(codes(&dqn), ["MX0502"]);
    let cont = "agent a {\n  env = \"gymnax::Pendulum-v1\"\n  algorithm = ppo()\n  actor = gaussian()\n  critic = value()\n  intrinsic = icm()\n  train { steps = 1000 }\n}\n";
    assert_eq!(codes(cont), ["MX0502"]);
    let bad = agent(
        "minigrid::FourRooms",
        "ppo",
        "mlp(64)",
        "intrinsic = icm(beta = 1.5)",
    );
    assert_eq!(codes(&bad).len(), 1);
}
