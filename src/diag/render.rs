//! miette rendering of [`Diag`]s (the only place that names miette types).

use std::fmt;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan,
};

use super::{Diag, Diagnostics, Label, Severity};

#[derive(Debug)]
struct Report {
    code: Option<String>,
    message: String,
    severity: miette::Severity,
    help: Option<String>,
    src: NamedSource<String>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code
            .as_ref()
            .map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|r| r as &dyn Diagnostic)))
        }
    }
}

fn clamp(text: &str, start: usize, end: usize) -> SourceSpan {
    let mut s = start.min(text.len());
    while s > 0 && !text.is_char_boundary(s) {
        s -= 1;
    }
    let mut e = end.max(s).min(text.len());
    while e < text.len() && !text.is_char_boundary(e) {
        e += 1;
    }
    SourceSpan::new(s.into(), e - s)
}

fn labeled(all: &Diagnostics, l: &Label, primary: bool) -> LabeledSpan {
    let text = &all.file(l.span.file).text;
    let span = clamp(text, l.span.start, l.span.end);
    let t = if l.text.is_empty() {
        None
    } else {
        Some(l.text.clone())
    };
    if primary {
        LabeledSpan::new_primary_with_span(t, span)
    } else {
        LabeledSpan::new_with_span(t, span)
    }
}

fn build(all: &Diagnostics, d: &Diag) -> Report {
    let file = d.primary.span.file;
    let src = all.file(file);
    let mut labels = vec![labeled(all, &d.primary, true)];
    let mut related = Vec::new();
    for l in &d.secondary {
        if l.span.file == file {
            labels.push(labeled(all, l, false));
        } else {
            let other = all.file(l.span.file);
            related.push(Report {
                code: None,
                message: l.text.clone(),
                severity: miette::Severity::Advice,
                help: None,
                src: NamedSource::new(other.name.clone(), other.text.clone()),
                labels: vec![labeled(all, l, true)],
                related: Vec::new(),
            });
        }
    }
    Report {
        code: Some(d.code.to_string()),
        message: d.message.clone(),
        severity: match d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        },
        help: d.help.clone(),
        src: NamedSource::new(src.name.clone(), src.text.clone()),
        labels,
        related,
    }
}

/// Render one diagnostic (unicode, width 80; `color` for terminals).
pub fn render_one(all: &Diagnostics, d: &Diag, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(80);
    let report = build(all, d);
    let mut out = String::new();
    if handler.render_report(&mut out, &report).is_err() {
        out = format!("{}: {}\n", d.code, d.message);
    }
    out
}
