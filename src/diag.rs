//! Diagnostics: spans, codes, the sink, miette rendering and `explain` texts.

pub mod codes;
mod render;

pub use render::render_one;

/// Index of a source file in a [`Diagnostics`] sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    /// The file.
    pub file: FileId,
    /// Start byte offset.
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
}

impl Span {
    /// A span in `file` from `start` to `end`.
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span { file, start, end }
    }
}

/// Error or warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Stops the run (exit 1).
    Error,
    /// Reported, exit 0.
    Warning,
}

/// A label: a span plus a short text.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there.
    pub text: String,
}

/// One diagnostic: code, message, a primary label, secondary labels and a help line.
#[derive(Clone, Debug, PartialEq)]
pub struct Diag {
    /// Stable code, e.g. `MX0303`.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// One-line message.
    pub message: String,
    /// Where the user made the decision.
    pub primary: Label,
    /// The other side of a mismatch, provenance.
    pub secondary: Vec<Label>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diag {
    /// A new error.
    pub fn error(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diag {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary: Label {
                span,
                text: label.into(),
            },
            secondary: Vec::new(),
            help: None,
        }
    }
    /// A new warning.
    pub fn warning(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        let mut d = Diag::error(code, message, span, label);
        d.severity = Severity::Warning;
        d
    }
    /// Add a secondary label.
    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            text: text.into(),
        });
        self
    }
    /// Set the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// A source file known to the sink.
#[derive(Clone, Debug, Default)]
pub struct SourceFile {
    /// Display name (path as given or resolved, or `--set k=v`).
    pub name: String,
    /// Full text (lossy UTF-8).
    pub text: String,
}

impl SourceFile {
    /// 1-based line and column (in chars) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let mut off = offset;
        while off > 0 && !self.text.is_char_boundary(off) {
            off -= 1;
        }
        let before = &self.text[..off];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }
}

/// Maximum number of diagnostics kept per run.
pub const MAX_DIAGS: usize = 100;

/// Every diagnostic of a run, with the source texts needed to render them.
#[derive(Debug, Default)]
pub struct Diagnostics {
    /// Source files, indexed by [`FileId`].
    pub files: Vec<SourceFile>,
    /// Diagnostics in emission order.
    pub diags: Vec<Diag>,
}

impl Diagnostics {
    /// Register a source file; returns its id.
    pub fn add_file(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile {
            name: name.into(),
            text: text.into(),
        });
        FileId(self.files.len() as u32 - 1)
    }
    /// The file of an id.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }
    /// Add a diagnostic (duplicates of code + primary span are dropped; capped at [`MAX_DIAGS`]).
    pub fn push(&mut self, d: Diag) {
        if self.diags.len() >= MAX_DIAGS {
            return;
        }
        if self
            .diags
            .iter()
            .any(|o| o.code == d.code && o.primary.span == d.primary.span)
        {
            return;
        }
        self.diags.push(d);
    }
    /// True if any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| d.severity == Severity::Error)
    }
    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }
    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.diags
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }
    /// Diagnostics sorted by file, then position, then code.
    pub fn sorted(&self) -> Vec<&Diag> {
        let mut v: Vec<&Diag> = self.diags.iter().collect();
        v.sort_by(|a, b| {
            (a.primary.span.file, a.primary.span.start, a.code).cmp(&(
                b.primary.span.file,
                b.primary.span.start,
                b.code,
            ))
        });
        v
    }
    /// Render all diagnostics for a terminal (`json = false`) or as JSON.
    pub fn render(&self, json: bool) -> String {
        if json {
            return self.render_json();
        }
        self.render_with(false)
    }
    /// Render for a terminal, with or without color.
    pub fn render_with(&self, color: bool) -> String {
        let mut out = String::new();
        for d in self.sorted() {
            out.push_str(&render_one(self, d, color));
        }
        out
    }
    /// JSON: `{"diagnostics": [...], "errors": n, "warnings": n}`.
    pub fn render_json(&self) -> String {
        let items: Vec<serde_json::Value> = self
            .sorted()
            .into_iter()
            .map(|d| self.diag_json(d))
            .collect();
        let v = serde_json::json!({
            "diagnostics": items,
            "errors": self.error_count(),
            "warnings": self.warning_count(),
        });
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }
    fn label_json(&self, l: &Label) -> serde_json::Value {
        let f = self.file(l.span.file);
        let (line, col) = f.line_col(l.span.start);
        serde_json::json!({
            "file": f.name, "line": line, "column": col,
            "start": l.span.start, "end": l.span.end, "text": l.text,
        })
    }
    fn diag_json(&self, d: &Diag) -> serde_json::Value {
        let p = self.label_json(&d.primary);
        serde_json::json!({
            "code": d.code,
            "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
            "message": d.message,
            "file": p["file"], "line": p["line"], "column": p["column"],
            "primary": p,
            "labels": d.secondary.iter().map(|l| self.label_json(l)).collect::<Vec<_>>(),
            "help": d.help,
        })
    }
}
