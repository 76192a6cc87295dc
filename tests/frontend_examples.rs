//! Every shipped example and architecture checks clean and is already in canonical format.

use std::path::Path;

fn mx_files(dir: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut v: Vec<_> = std::fs::read_dir(root)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "mx"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn examples_and_architectures_check_clean() {
    let mut files = mx_files("examples");
    files.extend(mx_files("architectures"));
    assert!(!files.is_empty());
    for f in files {
        let out = memoraxc::check::check_path(&f, &[]);
        assert!(
            out.diagnostics.diags.is_empty(),
            "{}:\n{}",
            f.display(),
            out.diagnostics.render(false)
        );
        let text = std::fs::read_to_string(&f).unwrap();
        let formatted = memoraxc::syntax::format_source(&text).unwrap();
        assert_eq!(
            formatted,
            text,
            "{} is not in canonical format",
            f.display()
        );
        assert_eq!(
            memoraxc::syntax::format_source(&formatted).unwrap(),
            formatted
        );
    }
}

#[test]
fn ppo_cartpole_program() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ppo_cartpole.mx");
    let out = memoraxc::check::check_path(&f, &[]);
    let a = &out.program.agents[0];
    assert_eq!(a.algorithm, "ppo");
    assert_eq!(a.networks.len(), 2);
    assert_eq!(a.networks[0].name, "actor");
    assert_eq!(a.networks[0].encoder.path, "actor.encoder");
    assert_eq!(a.networks[0].encoder.params, 4 * 64 + 64 + 64 * 64 + 64);
    assert_eq!(a.networks[0].heads[0].1.params, 64 * 2 + 2);
    assert_eq!(a.networks[1].heads[0].1.params, 65);
    assert!(a.hash.starts_with("mx1:") && a.hash.len() == 16);
}
