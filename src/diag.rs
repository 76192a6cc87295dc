//! Diagnostics: spans, codes, the sink, miette rendering and `explain` texts.

/// Every diagnostic of a run, with the source texts needed to render them.
#[derive(Debug, Default)]
pub struct Diagnostics {}

impl Diagnostics {
    /// True if any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        false
    }
    /// Render all diagnostics for a terminal (`json = false`) or as JSON.
    pub fn render(&self, _json: bool) -> String {
        String::new()
    }
}
