//! UI fixtures: every `tests/ui/**/*.mx` carries inline expectations `# error: [MXnnnn]` /
//! `# warning: [MXnnnn]` on the line of the primary label; the set of (line, code) pairs must
//! match exactly. The rendered report is snapshotted with insta.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "mx") {
            out.push(p);
        }
    }
}

fn expectations(src: &str) -> BTreeSet<(usize, String)> {
    let mut out = BTreeSet::new();
    for (i, line) in src.lines().enumerate() {
        for marker in ["# error:", "# warning:"] {
            if let Some(pos) = line.find(marker) {
                let rest = &line[pos + marker.len()..];
                for part in rest.split('[').skip(1) {
                    if let Some(code) = part.split(']').next() {
                        out.insert((i + 1, code.trim().to_string()));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn ui_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(root).unwrap();
    let mut files = Vec::new();
    walk(Path::new("tests/ui"), &mut files);
    assert!(files.len() > 10);
    let mut failures = Vec::new();
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        let expected = expectations(&src);
        let out = memoraxc::check::check_path(f, &[]);
        let d = &out.diagnostics;
        let actual: BTreeSet<(usize, String)> = d
            .diags
            .iter()
            .filter(|x| x.primary.span.file.0 == 0)
            .map(|x| {
                (
                    d.file(x.primary.span.file).line_col(x.primary.span.start).0,
                    x.code.to_string(),
                )
            })
            .collect();
        if expected != actual {
            failures.push(format!(
                "{}:\n  expected {:?}\n  actual   {:?}\n{}",
                f.display(),
                expected,
                actual,
                d.render(false)
            ));
        }
        let name = f
            .strip_prefix("tests/ui")
            .unwrap()
            .with_extension("")
            .to_string_lossy()
            .replace(['/', '\\'], "__");
        let rendered = format!("--- SOURCE\n{src}--- DIAGNOSTICS\n{}", d.render(false));
        insta::with_settings!({snapshot_path => "snapshots/ui", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(name, rendered);
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
