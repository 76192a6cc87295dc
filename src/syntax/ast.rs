//! The AST: our own types with byte spans (pest types never leave `syntax/`).

/// A byte range in the file being parsed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sp {
    /// Start byte offset.
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
}

impl Sp {
    /// A new span.
    pub fn new(start: usize, end: usize) -> Self {
        Sp { start, end }
    }
    /// The smallest span covering both.
    pub fn join(self, o: Sp) -> Sp {
        Sp {
            start: self.start.min(o.start),
            end: self.end.max(o.end),
        }
    }
}

/// A comment (`# text`), or a doc comment (`## text`).
#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    /// Text after the `#` / `##`, trailing whitespace removed.
    pub text: String,
    /// A `##` doc comment.
    pub doc: bool,
    /// Where.
    pub span: Sp,
}

/// A name with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where.
    pub span: Sp,
}

/// A parsed file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct File {
    /// Items in source order.
    pub items: Vec<Item>,
    /// Comments after the last item.
    pub trailing_comments: Vec<Comment>,
}

/// A top-level item with its comments.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// Comments and doc comments before the item (and comments moved out of its expression).
    pub comments: Vec<Comment>,
    /// A comment on the item's last line.
    pub trailing: Option<Comment>,
    /// The item.
    pub kind: ItemKind,
    /// Where.
    pub span: Sp,
}

impl Item {
    /// The `##` doc lines attached to the item.
    pub fn docs(&self) -> Vec<&str> {
        self.comments
            .iter()
            .filter(|c| c.doc)
            .map(|c| c.text.as_str())
            .collect()
    }
}

/// What an item is.
#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    /// `import "file.mx"`.
    Import(Import),
    /// `let NAME(params) : carry C = expr`.
    Let(Let),
    /// `agent NAME { ... }`.
    Agent(Agent),
}

/// `import "path"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    /// The path as written.
    pub path: String,
    /// Span of the string literal.
    pub path_span: Sp,
}

/// A `let` definition.
#[derive(Clone, Debug, PartialEq)]
pub struct Let {
    /// Name.
    pub name: Ident,
    /// Parameters; `None` when written without parentheses.
    pub params: Option<Vec<Param>>,
    /// Carry annotation.
    pub annot: Option<CarryAnnot>,
    /// Body.
    pub body: Expr,
}

/// A `let` parameter with an optional default.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Name.
    pub name: Ident,
    /// Default value.
    pub default: Option<Expr>,
}

/// `: carry C`.
#[derive(Clone, Debug, PartialEq)]
pub struct CarryAnnot {
    /// The declared carry type.
    pub ty: CarryExpr,
    /// Span of the whole annotation.
    pub span: Sp,
}

/// A carry type as written.
#[derive(Clone, Debug, PartialEq)]
pub enum CarryExpr {
    /// `()`.
    Unit,
    /// `name(field: n, ...)`.
    Record(String, Vec<(String, u64)>),
    /// `(a, b, ...)`.
    Tuple(Vec<CarryExpr>),
    /// `c * n`.
    Repeat(Box<CarryExpr>, u64),
}

/// An agent.
#[derive(Clone, Debug, PartialEq)]
pub struct Agent {
    /// Name.
    pub name: Ident,
    /// Slots and sections in order.
    pub entries: Vec<Entry>,
    /// Comments before the closing brace.
    pub end_comments: Vec<Comment>,
    /// Some entries had syntax errors and were left out (the checker skips such agents).
    pub recovered: bool,
}

/// An agent entry with its comments.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Leading comments.
    pub comments: Vec<Comment>,
    /// Comment on the entry's last line.
    pub trailing: Option<Comment>,
    /// The entry.
    pub kind: EntryKind,
    /// Where.
    pub span: Sp,
}

/// A slot or a section.
#[derive(Clone, Debug, PartialEq)]
pub enum EntryKind {
    /// `name [: carry C] = expr`.
    Slot {
        /// Slot name.
        name: Ident,
        /// Carry annotation.
        annot: Option<CarryAnnot>,
        /// Value.
        value: Expr,
    },
    /// `name { key = value, ... }`.
    Section {
        /// Section name (`train`).
        name: Ident,
        /// Fields.
        fields: Vec<(Ident, Expr)>,
    },
}

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where.
    pub span: Sp,
}

/// Expression forms.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// Integer literal.
    Int(i64),
    /// Float literal.
    Float(f64),
    /// String literal (unescaped).
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// `none`.
    None,
    /// A bare name.
    Name(String),
    /// `f(args)`.
    Call(Ident, Vec<Arg>),
    /// `[a, b]`.
    List(Vec<Expr>),
    /// `a -> b -> c` (n-ary; a parenthesised pipe inside stays nested).
    Pipe(Vec<Expr>),
    /// `x * n`.
    Repeat(Box<Expr>, Box<Expr>),
}

/// A call argument.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// `Some(name)` for keyword arguments.
    pub name: Option<Ident>,
    /// Value.
    pub value: Expr,
    /// Where (whole argument).
    pub span: Sp,
}

/// Reset every span (and comment span) to zero: `parse(print(a)) == a` is checked modulo spans.
pub fn strip_spans(f: &mut File) {
    fn c(cs: &mut [Comment]) {
        for x in cs {
            x.span = Sp::default();
        }
    }
    fn e(x: &mut Expr) {
        x.span = Sp::default();
        match &mut x.kind {
            ExprKind::Call(id, args) => {
                id.span = Sp::default();
                for a in args {
                    a.span = Sp::default();
                    if let Some(n) = &mut a.name {
                        n.span = Sp::default();
                    }
                    e(&mut a.value);
                }
            }
            ExprKind::List(xs) | ExprKind::Pipe(xs) => xs.iter_mut().for_each(e),
            ExprKind::Repeat(a, b) => {
                e(a);
                e(b);
            }
            _ => {}
        }
    }
    c(&mut f.trailing_comments);
    for it in &mut f.items {
        it.span = Sp::default();
        c(&mut it.comments);
        if let Some(t) = &mut it.trailing {
            t.span = Sp::default();
        }
        match &mut it.kind {
            ItemKind::Import(i) => i.path_span = Sp::default(),
            ItemKind::Let(l) => {
                l.name.span = Sp::default();
                for p in l.params.iter_mut().flatten() {
                    p.name.span = Sp::default();
                    if let Some(d) = &mut p.default {
                        e(d);
                    }
                }
                if let Some(a) = &mut l.annot {
                    a.span = Sp::default();
                }
                e(&mut l.body);
            }
            ItemKind::Agent(a) => {
                a.name.span = Sp::default();
                c(&mut a.end_comments);
                for en in &mut a.entries {
                    en.span = Sp::default();
                    c(&mut en.comments);
                    if let Some(t) = &mut en.trailing {
                        t.span = Sp::default();
                    }
                    match &mut en.kind {
                        EntryKind::Slot { name, annot, value } => {
                            name.span = Sp::default();
                            if let Some(a) = annot {
                                a.span = Sp::default();
                            }
                            e(value);
                        }
                        EntryKind::Section { name, fields } => {
                            name.span = Sp::default();
                            for (k, v) in fields {
                                k.span = Sp::default();
                                e(v);
                            }
                        }
                    }
                }
            }
        }
    }
}
