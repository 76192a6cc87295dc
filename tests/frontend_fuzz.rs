//! Mutation fuzzing: parse + check never panic on mutated valid programs, odd bytes, huge and
//! deeply nested inputs. Crashing inputs found here are kept under `tests/ui/regressions/`.

use proptest::prelude::*;

fn corpus() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["examples", "architectures", "tests/fmt"] {
        let mut v: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        for p in v {
            if let Ok(t) = std::fs::read_to_string(&p) {
                out.push((p.display().to_string(), t));
            }
        }
    }
    out
}

const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    "=",
    "->",
    "*",
    ":",
    "\"",
    "#",
    "##",
    "\n",
    "let ",
    "agent ",
    "import ",
    "carry ",
    "shared(",
    "stack(",
    "heads(",
    "gru(64)",
    "attention(heads = 3)",
    "0",
    "-1",
    "1e999",
    "99999999999999999999",
    "none",
    "true",
    "x",
    "é",
    "\u{0}",
    " * 0",
    " * 1000",
    "residual(",
    "train { }",
    "env = \"popgym::RepeatPreviousEasy\"",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, usize),
    Duplicate(usize, usize),
    Replace(usize, char),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(a, t)| Mutation::Insert(a, t)),
        (any::<usize>(), 1usize..40).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
        (any::<usize>(), any::<char>()).prop_map(|(a, c)| Mutation::Replace(a, c)),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut s = text.to_string();
    let fix = |s: &str, mut i: usize| {
        i = i.min(s.len());
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    match *m {
        Mutation::Delete(a, n) => {
            let a = fix(&s, a % (s.len() + 1));
            let b = fix(&s, a + n);
            s.replace_range(a..b, "");
        }
        Mutation::Insert(a, t) => {
            let a = fix(&s, a % (s.len() + 1));
            s.insert_str(a, TOKENS[t]);
        }
        Mutation::Duplicate(a, n) => {
            let a = fix(&s, a % (s.len() + 1));
            let b = fix(&s, a + n);
            let piece = s[a..b].to_string();
            s.insert_str(b, &piece);
        }
        Mutation::Replace(a, c) => {
            let a = fix(&s, a % (s.len() + 1));
            if a < s.len() {
                let b = fix(
                    &s,
                    a + s[a..].chars().next().map(char::len_utf8).unwrap_or(0),
                );
                s.replace_range(a..b, &c.to_string());
            }
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn check_never_panics(idx in any::<prop::sample::Index>(), ms in prop::collection::vec(mutation(), 1..6)) {
        let corpus = corpus();
        let (name, text) = &corpus[idx.index(corpus.len())];
        let mut t = text.clone();
        for m in &ms {
            t = apply(&t, m);
        }
        let out = memoraxc::check::check_source(name, &t, &[]);
        let _ = out.diagnostics.render(false);
        let _ = out.diagnostics.render(true);
        if let Some(f) = memoraxc::syntax::format_source(&t) {
            prop_assert_eq!(memoraxc::syntax::format_source(&f), Some(f.clone()));
        }
    }
}

#[test]
fn odd_inputs_never_panic() {
    let deep = "let x = ".to_string() + &"(".repeat(10_000) + &")".repeat(10_000);
    let long_pipe = "let x = ".to_string() + &vec!["relu"; 20_000].join(" -> ");
    let long_star = "let x = relu".to_string() + &" * 1".repeat(1_000);
    let huge = "let x = mlp(64)\n".repeat(20_000);
    let repeats = "let a = gru(64) * 256\nlet b = a * 256\nlet c = b * 256\n";
    let bad_utf8 = String::from_utf8_lossy(&[0x6c, 0x65, 0x74, 0xff, 0xfe]).into_owned();
    let nested_let = (0..200)
        .map(|i| format!("let l{i} = l{}\n", i + 1))
        .collect::<String>()
        + "let l200 = relu\n";
    for t in [
        deep,
        long_pipe,
        long_star,
        huge,
        repeats.into(),
        bad_utf8,
        nested_let,
        String::new(),
        "\u{0}".into(),
        "agent".into(),
        "agent a {".into(),
        "let".into(),
        "\"".into(),
        "#".into(),
    ] {
        let out = memoraxc::check::check_source("examples/fuzz.mx", &t, &[]);
        let _ = out.diagnostics.render(false);
    }
    // invalid UTF-8 through the file path
    let dir = std::env::temp_dir().join(format!("mx-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bad.mx");
    std::fs::write(&p, [0x6c, 0x65, 0x74, 0x20, 0xff, 0xfe, 0x0a]).unwrap();
    let out = memoraxc::check::check_path(&p, &[]);
    assert!(out.diagnostics.diags.iter().any(|d| d.code == "MX0105"));
    let _ = out.diagnostics.render(false);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn regression_fixtures_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            let out = memoraxc::check::check_path(&p, &[]);
            let _ = out.diagnostics.render(false);
        }
    }
}
