//! Learning curves: return vs env steps from run directories, drawn as PNG or SVG with plotters.
//!
//! Runs that share an architecture hash (`hash` file: one configuration over several seeds) are
//! aggregated into one line, the mean across runs, with a shaded band (± one standard deviation
//! across runs, or min–max); different hashes are separate lines with a legend naming the agent
//! and the hash. Text needs a TrueType font, found at run time (`MEMORAXC_FONT` or common system
//! locations); without one the plot is drawn without text and a warning is printed.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::metrics;

mod center;
mod font;
mod sweep;
pub use center::Center;
pub use font::{FONT_CANDIDATES, font};

/// Which logged value is plotted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Metric {
    /// Mean training-episode return of each logged iteration (`episode_return`).
    #[value(name = "episode_return")]
    EpisodeReturn,
    /// Greedy evaluation return (`eval_return`).
    #[value(name = "eval_return")]
    EvalReturn,
}

impl Metric {
    /// Key in `metrics.jsonl`.
    pub fn key(self) -> &'static str {
        match self {
            Metric::EpisodeReturn => "episode_return",
            Metric::EvalReturn => "eval_return",
        }
    }

    /// Axis label.
    pub fn label(self) -> &'static str {
        match self {
            Metric::EpisodeReturn => "episode return (training)",
            Metric::EvalReturn => "evaluation return",
        }
    }
}

/// Spread shown around the mean of several runs of one configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Band {
    /// Mean ± one (population) standard deviation across runs.
    #[default]
    Std,
    /// Minimum to maximum across runs.
    #[value(name = "minmax", alias = "min-max")]
    MinMax,
    /// 95 % bootstrap confidence interval of the line (mean or IQM) across runs.
    Ci,
}

/// Options of a plot.
#[derive(Clone, Debug)]
pub struct PlotOptions {
    /// Plotted value; `None`: `eval_return` when every run has it, else `episode_return`.
    pub metric: Option<Metric>,
    /// Band around the mean of several runs.
    pub band: Band,
    /// The line of several runs: mean or IQM.
    pub center: Center,
    /// Title (default: derived from the runs and the metric).
    pub title: Option<String>,
    /// Image size in pixels.
    pub size: (u32, u32),
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions {
            metric: None,
            band: Band::Std,
            center: Center::Mean,
            title: None,
            size: (1024, 640),
        }
    }
}

/// Why a plot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// No run directories were given.
    #[error("no run directories given")]
    NoRuns,
    /// A run directory does not exist.
    #[error("{0}: no such run directory")]
    MissingRun(PathBuf),
    /// A run has no usable metrics.
    #[error("{path}: {reason}")]
    NoMetrics {
        /// The run directory.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// The output name ends in neither `.png` nor `.svg`.
    #[error("{0}: unknown output format (the file name must end in .png or .svg)")]
    UnknownExtension(PathBuf),
    /// Reading a run or writing the image failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// plotters failed to draw.
    #[error("drawing failed: {0}")]
    Draw(String),
}

impl PlotError {
    /// Whether the error is the user's (exit 1) rather than a runtime failure (exit 3).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, PlotError::Io { .. } | PlotError::Draw(_))
    }
}

/// Image formats, from the output file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// PNG bitmap.
    Png,
    /// SVG vector image.
    Svg,
}

impl Format {
    /// The format named by a path's extension (case-insensitive).
    pub fn from_path(path: &Path) -> Result<Format, PlotError> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext.to_ascii_lowercase().as_str() {
            "png" => Ok(Format::Png),
            "svg" => Ok(Format::Svg),
            _ => Err(PlotError::UnknownExtension(path.to_path_buf())),
        }
    }
}

/// One drawn line: a configuration (hash) aggregated over its runs.
#[derive(Clone, Debug)]
pub struct Curve {
    /// Agent name (from the first run's `config.yaml`).
    pub agent: String,
    /// Architecture hash shared by the runs.
    pub hash: String,
    /// Run directories aggregated into this line.
    pub runs: Vec<PathBuf>,
    /// `(env_steps, mean, low, high)`; low = high = mean for a single run.
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// What was drawn.
#[derive(Clone, Debug)]
pub struct PlotSummary {
    /// The plotted metric.
    pub metric: Metric,
    /// One entry per configuration, in the order first met.
    pub curves: Vec<Curve>,
    /// Whether text (title, axes, legend) was drawn, i.e. a font was found.
    pub text: bool,
}

/// Plot runs into `out` (`.png` or `.svg`) with default options and the given metric.
pub fn plot_runs(
    runs: &[PathBuf],
    out: &Path,
    metric: Option<Metric>,
) -> Result<PlotSummary, PlotError> {
    let opts = PlotOptions {
        metric,
        ..PlotOptions::default()
    };
    plot_runs_with(runs, out, &opts)
}

/// Plot runs into `out` (`.png` or `.svg`).
pub fn plot_runs_with(
    runs: &[PathBuf],
    out: &Path,
    opts: &PlotOptions,
) -> Result<PlotSummary, PlotError> {
    let format = Format::from_path(out)?;
    let summary = curves(runs, opts)?;
    let text = font().is_some();
    let title = opts
        .title
        .clone()
        .unwrap_or_else(|| default_title(&summary));
    let (w, h) = (opts.size.0.max(64), opts.size.1.max(64));
    let spec = Spec {
        summary: &summary,
        band: opts.band,
        center: opts.center,
        title: &title,
        text,
    };
    let io = |e: std::io::Error| PlotError::Io {
        path: out.to_path_buf(),
        message: e.to_string(),
    };
    match format {
        Format::Svg => {
            let mut s = String::new();
            {
                let root = SVGBackend::with_string(&mut s, (w, h)).into_drawing_area();
                draw(&root, &spec)?;
                root.present().map_err(draw_err)?;
            }
            std::fs::write(out, s).map_err(io)?;
        }
        Format::Png => {
            let mut buf = vec![255u8; w as usize * h as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
                draw(&root, &spec)?;
                root.present().map_err(draw_err)?;
            }
            write_png(out, &buf, (w, h)).map_err(io)?;
        }
    }
    Ok(PlotSummary { text, ..summary })
}

/// Write `<run>/curve.png`; a failure is printed as a warning, never returned (end of training).
pub fn write_run_curve(dir: &Path) {
    if let Err(e) = plot_runs(&[dir.to_path_buf()], &dir.join("curve.png"), None) {
        eprintln!("warning: curve.png not written: {e}");
    }
}

/// Expand arguments: a directory without `metrics.jsonl` whose subdirectories hold runs stands
/// for those runs (sorted), a sweep directory for the runs under its `runs/`; anything else is
/// kept as given.
pub fn expand_runs(args: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for a in args {
        let runs = sweep::runs_of(a);
        let a = runs.as_ref().unwrap_or(a);
        if a.is_dir() && !a.join("metrics.jsonl").exists() {
            let mut kids: Vec<PathBuf> = std::fs::read_dir(a)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("metrics.jsonl").is_file())
                .collect();
            if !kids.is_empty() {
                kids.sort();
                out.extend(kids);
                continue;
            }
        }
        out.push(a.clone());
    }
    out
}

/// One run's description and metric rows.
struct Run {
    dir: PathBuf,
    agent: String,
    hash: String,
    rows: Vec<std::collections::BTreeMap<String, f64>>,
}

impl Run {
    fn load(dir: &Path) -> Result<Run, PlotError> {
        if !dir.is_dir() {
            return Err(PlotError::MissingRun(dir.to_path_buf()));
        }
        if !dir.join("metrics.jsonl").is_file() {
            return Err(PlotError::NoMetrics {
                path: dir.to_path_buf(),
                reason: "not a run directory with metrics (no metrics.jsonl)".into(),
            });
        }
        let rows = metrics::read(dir).map_err(|e| PlotError::Io {
            path: dir.join("metrics.jsonl"),
            message: e.to_string(),
        })?;
        let hash = std::fs::read_to_string(dir.join("hash"))
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "no hash".into());
        Ok(Run {
            agent: agent_name(dir),
            dir: dir.to_path_buf(),
            hash,
            rows,
        })
    }

    /// `(env_steps, value)` sorted by steps; for repeated steps (a resumed run) the last wins.
    fn series(&self, key: &str) -> Vec<(f64, f64)> {
        let mut pts: Vec<(f64, f64)> = self
            .rows
            .iter()
            .filter_map(|r| Some((*r.get("env_steps")?, *r.get(key)?)))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut out: Vec<(f64, f64)> = Vec::with_capacity(pts.len());
        for p in pts {
            match out.last_mut() {
                Some(last) if last.0 == p.0 => *last = p,
                _ => out.push(p),
            }
        }
        out
    }
}

/// Agent name from `config.yaml`, else the directory name less its timestamp; for a run of a
/// sweep, followed by its configuration (`sweep-run.json`).
fn agent_name(dir: &Path) -> String {
    let name = plain_agent_name(dir);
    match sweep::label(dir) {
        Some(l) => format!("{name} [{l}]"),
        None => name,
    }
}

fn plain_agent_name(dir: &Path) -> String {
    let from_config = std::fs::read_to_string(dir.join("config.yaml"))
        .ok()
        .and_then(|s| crate::syntax::yaml::from_str::<crate::syntax::yaml::Value>(&s).ok())
        .and_then(|v| v.get("agent")?.as_str().map(str::to_string));
    from_config.unwrap_or_else(|| {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        // `<agent>-YYYYmmdd-HHMMSS[-k]`
        let parts: Vec<&str> = name.split('-').collect();
        let stamp = parts
            .iter()
            .position(|p| p.len() == 8 && p.bytes().all(|b| b.is_ascii_digit()));
        match stamp {
            Some(i) if i > 0 => parts[..i].join("-"),
            _ => name,
        }
    })
}

/// Runs of one hash with their series of the plotted metric.
type Group<'a> = (String, Vec<(&'a Run, Vec<(f64, f64)>)>);

/// Load the runs, choose the metric, group by hash and aggregate.
fn curves(runs: &[PathBuf], opts: &PlotOptions) -> Result<PlotSummary, PlotError> {
    if runs.is_empty() {
        return Err(PlotError::NoRuns);
    }
    let loaded = runs
        .iter()
        .map(|d| Run::load(d))
        .collect::<Result<Vec<_>, _>>()?;
    let metric = opts.metric.unwrap_or_else(|| {
        let all_eval = loaded
            .iter()
            .all(|r| !r.series(Metric::EvalReturn.key()).is_empty());
        if all_eval {
            Metric::EvalReturn
        } else {
            Metric::EpisodeReturn
        }
    });
    let mut groups: Vec<Group> = Vec::new();
    for run in &loaded {
        let s = run.series(metric.key());
        if s.is_empty() {
            return Err(PlotError::NoMetrics {
                path: run.dir.clone(),
                reason: format!("no `{}` values in metrics.jsonl", metric.key()),
            });
        }
        match groups.iter_mut().find(|(h, _)| *h == run.hash) {
            Some((_, g)) => g.push((run, s)),
            None => groups.push((run.hash.clone(), vec![(run, s)])),
        }
    }
    let curves = groups
        .into_iter()
        .map(|(hash, g)| {
            let series: Vec<Vec<(f64, f64)>> = g.iter().map(|(_, s)| s.clone()).collect();
            Curve {
                agent: g[0].0.agent.clone(),
                hash,
                runs: g.iter().map(|(r, _)| r.dir.clone()).collect(),
                points: aggregate_with(&series, opts.band, opts.center),
            }
        })
        .collect();
    Ok(PlotSummary {
        metric,
        curves,
        text: false,
    })
}

/// Linear interpolation of a sorted series at `x`; `None` outside its range.
fn interp(s: &[(f64, f64)], x: f64) -> Option<f64> {
    let (first, last) = (s.first()?, s.last()?);
    if x < first.0 || x > last.0 {
        return None;
    }
    let i = s.partition_point(|p| p.0 < x);
    let hi = s[i];
    if hi.0 == x || i == 0 {
        return Some(hi.1);
    }
    let lo = s[i - 1];
    Some(lo.1 + (hi.1 - lo.1) * (x - lo.0) / (hi.0 - lo.0))
}

/// Mean and band of several series on the union of their steps, kept where the most runs overlap
/// (all of them, unless some never overlap); runs are interpolated linearly between log points.
pub fn aggregate(series: &[Vec<(f64, f64)>], band: Band) -> Vec<(f64, f64, f64, f64)> {
    aggregate_with(series, band, Center::Mean)
}

/// Like [`aggregate`], with the line being the mean or the IQM of the runs.
pub fn aggregate_with(
    series: &[Vec<(f64, f64)>],
    band: Band,
    center: Center,
) -> Vec<(f64, f64, f64, f64)> {
    let mut xs: Vec<f64> = series.iter().flatten().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let at: Vec<(f64, Vec<f64>)> = xs
        .into_iter()
        .map(|x| (x, series.iter().filter_map(|s| interp(s, x)).collect()))
        .collect();
    let most = at.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    at.into_iter()
        .filter(|(_, v)| v.len() == most && most > 0)
        .map(|(x, v)| {
            let (line, lo, hi) = center::point(&v, band, center);
            (x, line, lo, hi)
        })
        .collect()
}

fn default_title(s: &PlotSummary) -> String {
    match s.curves.as_slice() {
        [c] => format!("{}: {}", c.agent, s.metric.label()),
        _ => format!("{} vs env steps", s.metric.label()),
    }
}

/// Everything `draw` needs.
struct Spec<'a> {
    summary: &'a PlotSummary,
    band: Band,
    center: Center,
    title: &'a str,
    text: bool,
}

/// Tableau-10 colours.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

use font::FAMILY;

fn draw_err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Axis ranges covering every line and band, padded by 5 % vertically.
fn ranges(curves: &[Curve]) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    let pts = curves.iter().flat_map(|c| &c.points);
    let (mut x0, mut x1, mut y0, mut y1) =
        (0f64, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, _, lo, hi) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(lo);
        y1 = y1.max(hi);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        let c = if y0.is_finite() { y0 } else { 0.0 };
        (y0, y1) = (c - 1.0, c + 1.0);
    }
    let pad = (y1 - y0) * 0.05;
    (x0..x1, (y0 - pad)..(y1 + pad))
}

/// Env steps as `500`, `20k`, `1.5M`.
fn fmt_steps(v: f64) -> String {
    let a = v.abs();
    let (d, suffix) = if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let s = format!("{:.2}", v / d);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{suffix}")
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, spec: &Spec) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(draw_err)?;
    let curves = &spec.summary.curves;
    let (xr, yr) = ranges(curves);
    let mut builder = ChartBuilder::on(root);
    builder.margin(18);
    if spec.text {
        builder
            .caption(spec.title, (FAMILY, 22))
            .x_label_area_size(48)
            .y_label_area_size(72);
    }
    let mut chart = builder.build_cartesian_2d(xr, yr).map_err(draw_err)?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(210, 210, 210));
    if spec.text {
        mesh.x_desc("env steps")
            .y_desc(spec.summary.metric.label())
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 15))
            .x_label_formatter(&|v| fmt_steps(*v));
    }
    mesh.draw().map_err(draw_err)?;
    for (i, c) in curves.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        if c.runs.len() > 1 {
            let upper = c.points.iter().map(|p| (p.0, p.3));
            let lower = c.points.iter().rev().map(|p| (p.0, p.2));
            let poly = Polygon::new(
                upper.chain(lower).collect::<Vec<_>>(),
                color.mix(0.2).filled(),
            );
            chart.draw_series(std::iter::once(poly)).map_err(draw_err)?;
        }
    }
    for (i, c) in curves.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let line = LineSeries::new(c.points.iter().map(|p| (p.0, p.1)), color.stroke_width(2));
        let anno = chart.draw_series(line).map_err(draw_err)?;
        let band = match spec.band {
            Band::Std => "± std",
            Band::MinMax => "min–max",
            Band::Ci => "95% CI",
        };
        let label = match c.runs.len() {
            1 => format!("{} ({})", c.agent, c.hash),
            n => format!(
                "{} ({}): {} {band} over {n} runs",
                c.agent,
                c.hash,
                spec.center.name()
            ),
        };
        anno.label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 3), (x + 18, y + 3)], color.filled()));
    }
    if spec.text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FAMILY, 14))
            .draw()
            .map_err(draw_err)?;
    }
    Ok(())
}

/// Encode an RGB8 buffer as PNG.
fn write_png(path: &Path, rgb: &[u8], (w, h): (u32, u32)) -> std::io::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut enc = png::Encoder::new(file, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let to_io = |e: png::EncodingError| std::io::Error::other(e.to_string());
    let mut writer = enc.write_header().map_err(to_io)?;
    writer.write_image_data(rgb).map_err(to_io)?;
    writer.finish().map_err(to_io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_and_bands() {
        let a = vec![(0.0, 0.0), (10.0, 10.0)];
        let b = vec![(0.0, 2.0), (5.0, 2.0), (10.0, 2.0), (20.0, 3.0)];
        let s = aggregate(&[a.clone(), b.clone()], Band::MinMax);
        assert_eq!(
            s,
            vec![
                (0.0, 1.0, 0.0, 2.0),
                (5.0, 3.5, 2.0, 5.0),
                (10.0, 6.0, 2.0, 10.0)
            ]
        );
        let s = aggregate(&[a, b], Band::Std);
        assert_eq!(s[0], (0.0, 1.0, 0.0, 2.0));
        assert_eq!(s[2], (10.0, 6.0, 2.0, 10.0));
    }

    #[test]
    fn step_labels_and_names() {
        assert_eq!(fmt_steps(500.0), "500");
        assert_eq!(fmt_steps(20_000.0), "20k");
        assert_eq!(fmt_steps(1_500_000.0), "1.5M");
        assert_eq!(
            agent_name(Path::new("/nope/ppo-gru-20261126-070102-2")),
            "ppo-gru"
        );
        assert!(Format::from_path(Path::new("a.PNG")).is_ok());
        assert!(Format::from_path(Path::new("a.pdf")).is_err());
    }
}
