//! `memoraxc envs`: listing, random baseline as JSON, unknown ids.

use std::process::Command;

fn memoraxc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_memoraxc"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn lists_every_id() {
    let (code, stdout, _) = memoraxc(&["envs"]);
    assert_eq!(code, 0);
    for info in memoraxc::check::env_table::all() {
        assert!(stdout.contains(&info.id), "{} missing", info.id);
    }
    assert!(stdout.contains("MultiDiscrete([8 8])"));
}

#[test]
fn random_baseline_json() {
    let args = [
        "envs",
        "popjym::StatelessCartPoleEasy",
        "--baseline",
        "random",
        "--episodes",
        "20",
        "--seed",
        "3",
        "--format",
        "json",
    ];
    let (code, stdout, stderr) = memoraxc(&args);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["env"], "popgym::PositionOnlyCartPoleEasy");
    assert_eq!(v["episodes"], 20);
    for k in ["return_mean", "return_std", "length_mean"] {
        assert!(v[k].is_number(), "{k}");
    }
    assert_eq!(memoraxc(&args).1, stdout, "not deterministic");
}

#[test]
fn unknown_id_suggests() {
    let (code, _, stderr) = memoraxc(&["envs", "gymnax::CartPole-v0", "--baseline", "random"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("gymnax::CartPole-v1"), "{stderr}");
    let (code, _, stderr) = memoraxc(&["envs", "popjym::AutoencodeEasy"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("unsolvable"), "{stderr}");
}
