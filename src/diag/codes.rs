//! The diagnostic catalogue: every code, a title and an explanation (`memoraxc explain`).
//!
//! The texts live in `docs/errors.md` (one `## MXnnnn: title` section per code), compiled in with
//! `include_str!`, so the documentation and `memoraxc explain` are the same text.

use std::sync::OnceLock;

/// One catalogue entry.
pub struct CodeInfo {
    /// The code, `MXnnnn`.
    pub code: &'static str,
    /// Short title.
    pub title: &'static str,
    /// Longer explanation with an example and the fix.
    pub explain: &'static str,
}

/// The documentation file the catalogue is read from.
pub const ERRORS_MD: &str = include_str!("../../docs/errors.md");

/// Parse `## MXnnnn: title` sections (body up to the next `## `).
fn parse(md: &'static str) -> Vec<CodeInfo> {
    let mut out = Vec::new();
    let mut rest = md;
    while let Some(i) = rest.find("\n## ") {
        rest = &rest[i + 4..];
        let end = rest.find("\n## ").map(|j| j + 1).unwrap_or(rest.len());
        let section = &rest[..end];
        let (head, body) = section.split_once('\n').unwrap_or((section, ""));
        if let Some((code, title)) = head.split_once(": ") {
            out.push(CodeInfo {
                code: code.trim(),
                title: title.trim(),
                explain: body.trim(),
            });
        }
        rest = &rest[end.saturating_sub(1)..];
    }
    out
}

/// Every code in the catalogue, in order.
pub fn all() -> &'static [CodeInfo] {
    static CODES: OnceLock<Vec<CodeInfo>> = OnceLock::new();
    CODES.get_or_init(|| parse(ERRORS_MD))
}

/// Look a code up (case-insensitive; `0303` and `MX0303` both work).
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    let c = code.trim().to_ascii_uppercase();
    let c = if c.starts_with("MX") {
        c
    } else {
        format!("MX{c}")
    };
    all().iter().find(|i| i.code == c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_parses_and_codes_are_unique() {
        let codes = all();
        assert_eq!(codes.len(), ERRORS_MD.matches("\n## MX").count());
        let mut seen = std::collections::HashSet::new();
        for c in codes {
            assert!(c.code.len() == 6 && c.code.starts_with("MX"), "{}", c.code);
            assert!(
                !c.title.is_empty() && c.explain.contains("Fix"),
                "{}",
                c.code
            );
            assert!(seen.insert(c.code), "duplicate {}", c.code);
        }
        assert_eq!(lookup("0303").map(|c| c.code), Some("MX0303"));
    }
}
