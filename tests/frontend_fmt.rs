//! Formatter golden pairs: `tests/fmt/X.mx` formats to `tests/fmt/X.fmt.mx`, which is a fixpoint.

use memoraxc::syntax::format_source;

#[test]
fn golden_pairs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fmt");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".mx") || name.ends_with(".fmt.mx") {
            continue;
        }
        let input = std::fs::read_to_string(&p).unwrap();
        let expected = std::fs::read_to_string(p.with_extension("fmt.mx")).unwrap();
        let got = format_source(&input).expect("input parses");
        assert_eq!(got, expected, "{name}: formatted output differs");
        assert_eq!(
            format_source(&expected).unwrap(),
            expected,
            "{name}: expected is not a fixpoint"
        );
        n += 1;
    }
    assert!(n >= 2);
}

#[test]
fn hash_is_stable_under_formatting_and_changes_with_semantics() {
    use memoraxc::check::check_source;
    let a = "agent x {\n  env = \"gymnax::CartPole-v1\"\n  algorithm = ppo()\n  torso = gru(64)\n  actor = categorical()\n  critic = value()\n  train { steps = 1000 }\n}\n";
    let b = "# comment\nagent   x{env=\"gymnax::CartPole-v1\" algorithm=ppo(num_envs=8)\n torso=gru(64)   actor=categorical() critic=value() train{steps=1_000, seed = 3}}";
    let c = a.replace("gru(64)", "gru(32)");
    let h = |s: &str| {
        let out = check_source("x.mx", s, &[]);
        assert!(
            !out.diagnostics.has_errors(),
            "{}",
            out.diagnostics.render(false)
        );
        out.program.agents[0].hash.clone()
    };
    assert_eq!(h(a), h(b));
    assert_ne!(h(a), h(&c));
}
