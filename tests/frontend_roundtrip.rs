//! Property tests: `parse(print(ast)) == ast` modulo spans over generated ASTs, `print` is a
//! fixpoint, and every parsed tree satisfies the span invariants.

use memoraxc::diag::FileId;
use memoraxc::syntax::ast::*;
use memoraxc::syntax::{parse, printer};
use proptest::prelude::*;

const KEYWORDS: &[&str] = &["import", "let", "agent", "true", "false", "none"];

fn ident_s() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,6}".prop_filter("not a keyword", |s| !KEYWORDS.contains(&s.as_str()))
}

fn id() -> impl Strategy<Value = Ident> {
    ident_s().prop_map(|name| Ident {
        name,
        span: Sp::default(),
    })
}

fn ex(kind: ExprKind) -> Expr {
    Expr {
        kind,
        span: Sp::default(),
    }
}

fn float_s() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(0.99),
        Just(3e-4),
        Just(1e-8),
        Just(1.0),
        Just(-2.5),
        Just(1e6),
        Just(123456.75),
        (-1_000_000i64..1_000_000).prop_map(|v| v as f64 / 64.0),
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
    ]
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        any::<i64>().prop_map(|v| ex(ExprKind::Int(v))),
        (0i64..100_000).prop_map(|v| ex(ExprKind::Int(v))),
        float_s().prop_map(|v| ex(ExprKind::Float(v))),
        "[ -~]{0,8}".prop_map(|s| ex(ExprKind::Str(s))),
        any::<bool>().prop_map(|b| ex(ExprKind::Bool(b))),
        Just(ex(ExprKind::None)),
        ident_s().prop_map(|n| ex(ExprKind::Name(n))),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 40, 5, |inner| {
        let arg_kw = (id(), inner.clone()).prop_map(|(n, v)| Arg {
            name: Some(n),
            value: v,
            span: Sp::default(),
        });
        let arg_pos = inner.clone().prop_map(|v| Arg {
            name: None,
            value: v,
            span: Sp::default(),
        });
        prop_oneof![
            (
                id(),
                prop::collection::vec(arg_pos, 0..3),
                prop::collection::vec(arg_kw, 0..3)
            )
                .prop_map(|(n, mut p, k)| {
                    p.extend(k);
                    ex(ExprKind::Call(n, p))
                }),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|xs| ex(ExprKind::List(xs))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|xs| ex(ExprKind::Pipe(xs))),
            (inner.clone(), inner)
                .prop_map(|(a, b)| ex(ExprKind::Repeat(Box::new(a), Box::new(b)))),
        ]
    })
}

fn comment(doc: bool) -> impl Strategy<Value = Comment> {
    "( [a-z0-9 ,.]{0,12})?".prop_map(move |text| Comment {
        text: text.trim_end().to_string(),
        doc,
        span: Sp::default(),
    })
}

fn comments() -> impl Strategy<Value = Vec<Comment>> {
    prop::collection::vec(any::<bool>().prop_flat_map(comment), 0..3)
}

fn carry() -> impl Strategy<Value = CarryExpr> {
    let base = prop_oneof![
        Just(CarryExpr::Unit),
        (
            ident_s(),
            prop::collection::vec((ident_s(), 0u64..100_000), 0..3)
        )
            .prop_map(|(n, f)| CarryExpr::Record(n, f)),
    ];
    let b = base.prop_recursive(2, 8, 3, |inner| {
        prop::collection::vec(inner, 1..3).prop_map(CarryExpr::Tuple)
    });
    (b, prop::option::of(1u64..5)).prop_map(|(c, n)| match n {
        Some(n) => CarryExpr::Repeat(Box::new(c), n),
        None => c,
    })
}

fn annot() -> impl Strategy<Value = Option<CarryAnnot>> {
    prop::option::of(carry().prop_map(|ty| CarryAnnot {
        ty,
        span: Sp::default(),
    }))
}

fn entry() -> impl Strategy<Value = Entry> {
    let slot = (id(), annot(), expr()).prop_map(|(name, annot, value)| EntryKind::Slot {
        name,
        annot,
        value,
    });
    let section = (id(), prop::collection::vec((id(), expr()), 0..3))
        .prop_map(|(name, fields)| EntryKind::Section { name, fields });
    (
        comments(),
        prop::option::of(comment(false)),
        prop_oneof![3 => slot, 1 => section],
    )
        .prop_map(|(comments, trailing, kind)| Entry {
            comments,
            trailing,
            kind,
            span: Sp::default(),
        })
}

fn item() -> impl Strategy<Value = Item> {
    let import = "[a-z/._]{1,10}".prop_map(|path| {
        ItemKind::Import(Import {
            path,
            path_span: Sp::default(),
        })
    });
    let param =
        (id(), prop::option::of(expr())).prop_map(|(name, default)| Param { name, default });
    let let_ = (
        id(),
        prop::option::of(prop::collection::vec(param, 0..3)),
        annot(),
        expr(),
    )
        .prop_map(|(name, params, annot, body)| {
            ItemKind::Let(Let {
                name,
                params,
                annot,
                body,
            })
        });
    let agent = (
        id(),
        prop::collection::vec(entry(), 0..4),
        prop::collection::vec(comment(false), 0..2),
    )
        .prop_map(|(name, entries, end_comments)| {
            ItemKind::Agent(Agent {
                name,
                entries,
                end_comments,
                recovered: false,
            })
        });
    (
        comments(),
        prop::option::of(comment(false)),
        prop_oneof![1 => import, 3 => let_, 2 => agent],
    )
        .prop_map(|(comments, trailing, kind)| Item {
            comments,
            trailing,
            kind,
            span: Sp::default(),
        })
}

fn file() -> impl Strategy<Value = File> {
    (
        prop::collection::vec(item(), 0..4),
        prop::collection::vec(comment(false), 0..2),
    )
        .prop_map(|(items, trailing_comments)| File {
            items,
            trailing_comments,
        })
}

fn check_spans(src: &str, f: &File) {
    fn ex(src: &str, e: &Expr, outer: Sp) {
        assert!(e.span.start <= e.span.end && e.span.end <= src.len());
        assert!(
            outer.start <= e.span.start && e.span.end <= outer.end,
            "child span outside parent"
        );
        assert!(src.is_char_boundary(e.span.start) && src.is_char_boundary(e.span.end));
        let text = &src[e.span.start..e.span.end];
        assert_eq!(text.trim(), text, "span not on token boundaries: {text:?}");
        let mut last = e.span.start;
        let kids: Vec<&Expr> = match &e.kind {
            ExprKind::Call(_, a) => a.iter().map(|a| &a.value).collect(),
            ExprKind::List(xs) | ExprKind::Pipe(xs) => xs.iter().collect(),
            ExprKind::Repeat(a, b) => vec![a, b],
            _ => vec![],
        };
        for k in kids {
            assert!(k.span.start >= last, "siblings out of order");
            last = k.span.end;
            ex(src, k, e.span);
        }
    }
    let mut last = 0;
    for it in &f.items {
        assert!(it.span.start >= last);
        last = it.span.end;
        match &it.kind {
            ItemKind::Let(l) => ex(src, &l.body, it.span),
            ItemKind::Agent(a) => {
                for e in &a.entries {
                    assert!(it.span.start <= e.span.start && e.span.end <= it.span.end);
                    match &e.kind {
                        EntryKind::Slot { value, .. } => ex(src, value, e.span),
                        EntryKind::Section { fields, .. } => {
                            fields.iter().for_each(|(_, v)| ex(src, v, e.span))
                        }
                    }
                }
            }
            ItemKind::Import(_) => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn print_parse_roundtrip(f in file()) {
        let text = printer::print_file(&f);
        let (mut parsed, errs) = parse(&text, FileId(0));
        prop_assert!(errs.is_empty(), "syntax errors in printed text:\n{text}\n{errs:?}");
        check_spans(&text, &parsed);
        strip_spans(&mut parsed);
        let mut want = f.clone();
        strip_spans(&mut want);
        prop_assert_eq!(&parsed, &want, "printed:\n{}", text);
        prop_assert_eq!(printer::print_file(&parsed), text);
    }
}

#[test]
fn spans_of_examples() {
    for dir in ["examples", "architectures"] {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for e in std::fs::read_dir(root).unwrap() {
            let p = e.unwrap().path();
            let src = std::fs::read_to_string(&p).unwrap();
            let (f, errs) = parse(&src, FileId(0));
            assert!(errs.is_empty());
            check_spans(&src, &f);
        }
    }
}
