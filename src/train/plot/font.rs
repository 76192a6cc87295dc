//! The run-time font for plot text: no system font discovery at build time.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};

/// Font family name under which the run-time font is registered.
pub(super) const FAMILY: &str = "memoraxc-sans";

/// Font files tried, in order, after `MEMORAXC_FONT`.
pub const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/google-noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/share/fonts/gnu-free/FreeSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// The font used for text, loaded and registered once per process: `MEMORAXC_FONT` (a `.ttf`/
/// `.otf` file; `none` disables text), else the first of [`FONT_CANDIDATES`] that loads.
pub fn font() -> Option<&'static Path> {
    static FONT: OnceLock<Option<PathBuf>> = OnceLock::new();
    FONT.get_or_init(|| {
        let env = std::env::var_os("MEMORAXC_FONT").filter(|v| !v.is_empty());
        if env.as_deref() == Some(std::ffi::OsStr::new("none")) {
            return None;
        }
        let mut tried: Vec<PathBuf> = env.map(PathBuf::from).into_iter().collect();
        tried.extend(FONT_CANDIDATES.iter().map(PathBuf::from));
        for p in &tried {
            let Ok(bytes) = std::fs::read(p) else {
                continue;
            };
            // plotters keeps registered fonts for the whole process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if register_font(FAMILY, FontStyle::Normal, bytes).is_ok() {
                return Some(p.clone());
            }
        }
        eprintln!(
            "warning: no TrueType font found (set MEMORAXC_FONT=FILE.ttf, or install DejaVu \
             Sans); plots are drawn without text"
        );
        None
    })
    .as_deref()
}
