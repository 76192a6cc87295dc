//! The documentation is checked: README tables equal the registries' output, every ```mx snippet
//! in README.md and docs/ checks, `memoraxc explain` prints docs/errors.md, `--version` names the
//! backends.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_memoraxc"))
}

fn stdout(args: &[&str]) -> String {
    let o = bin().args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn between(text: &str, tag: &str) -> String {
    let open = format!("<!-- {tag}:begin -->\n");
    let close = format!("<!-- {tag}:end -->");
    let a = text
        .find(&open)
        .unwrap_or_else(|| panic!("README has no {open}"))
        + open.len();
    let b = text[a..]
        .find(&close)
        .unwrap_or_else(|| panic!("README has no {close}"))
        + a;
    text[a..b].to_string()
}

#[test]
fn readme_tables_are_generated_from_the_registries() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert_eq!(
        between(&readme, "blocks"),
        stdout(&["blocks", "--format", "md"]),
        "README block table is stale: regenerate with `memoraxc blocks --format md`"
    );
    assert_eq!(
        between(&readme, "envs"),
        stdout(&["envs", "--format", "md"]),
        "README environment table is stale: regenerate with `memoraxc envs --format md`"
    );
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    for e in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p);
        }
    }
    files.sort();
    files
}

fn snippets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        match &mut cur {
            None if line.trim_start() == "```mx" => cur = Some(String::new()),
            Some(s) if line.trim_start() == "```" => {
                out.push(std::mem::take(s));
                cur = None;
            }
            Some(s) => {
                s.push_str(line);
                s.push('\n');
            }
            None => {}
        }
    }
    out
}

#[test]
fn every_mx_snippet_in_the_docs_checks() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("doc-snippets-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut checked = 0;
    for f in markdown_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, s) in snippets(&text).into_iter().enumerate() {
            let name = f.file_stem().unwrap().to_string_lossy().to_string();
            if s.contains("\"gym::") || s.contains("external(") {
                // bridged environments need the Python adapter: tests/bridge.rs checks them
                eprintln!("{name} snippet {i}: bridged environment, checked in tests/bridge.rs");
                continue;
            }
            let p = dir.join(format!("{name}-{i}.mx"));
            std::fs::write(&p, &s).unwrap();
            let o = bin()
                .arg("check")
                .arg(&p)
                .env("NO_COLOR", "1")
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{} snippet {i} does not check:\n{s}\n{}",
                f.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} snippets found");
}

#[test]
fn explain_prints_the_docs_text() {
    let md = std::fs::read_to_string(root().join("docs/errors.md")).unwrap();
    let sections: Vec<&str> = md.split("\n## ").skip(1).collect();
    assert!(sections.len() > 40);
    for s in sections {
        let (head, body) = s.split_once('\n').unwrap();
        let (code, title) = head.split_once(": ").unwrap();
        let out = stdout(&["explain", code]);
        assert_eq!(
            out,
            format!("{code}: {title}\n\n{}\n", body.trim()),
            "{code}"
        );
    }
    // every code the sources emit is documented
    let listed = stdout(&["explain"]);
    let mut missing = Vec::new();
    scan(&root().join("src"), &mut |text| {
        for (i, _) in text.match_indices("\"MX0") {
            let code = &text[i + 1..i + 7];
            if !listed.contains(code) {
                missing.push(code.to_string());
            }
        }
    });
    assert!(missing.is_empty(), "undocumented codes: {missing:?}");
}

fn scan(dir: &Path, f: &mut impl FnMut(&str)) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            scan(&p, f);
        } else if p.extension().is_some_and(|x| x == "rs") {
            f(&std::fs::read_to_string(&p).unwrap());
        }
    }
}

#[test]
fn version_names_the_backends() {
    let v = stdout(&["--version"]);
    assert!(v.contains(env!("CARGO_PKG_VERSION")), "{v}");
    assert!(v.contains("backends: cpu"), "{v}");
    assert_eq!(v.contains("cuda"), cfg!(feature = "cuda"), "{v}");
}
