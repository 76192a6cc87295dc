//! `memoraxc plot` and `train::plot`: PNG/SVG learning curves from fake run directories.

use std::path::{Path, PathBuf};
use std::process::Command;

use memoraxc::train::plot::{self, Metric};

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("plot-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Write a fake run directory: 20 log points every 1000 steps, evaluation every 5th.
fn fake_run(dir: &Path, agent: &str, hash: &str, offset: f64, eval: bool) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("hash"), format!("{hash}\n")).unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        format!("agent: {agent}\nhash: {hash}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("arch.mx"), "# fake\n").unwrap();
    let mut lines = String::new();
    for i in 1..=20u32 {
        let steps = i * 1000;
        let ret = 10.0 * f64::from(i) + offset;
        let mut row = format!(
            "{{\"env_steps\":{steps},\"wall_s\":{},\"sps\":5000,\"episode_return\":{ret},\"episode_length\":{ret},\"loss/total\":0.5",
            f64::from(i) * 0.2
        );
        if eval && i % 5 == 0 {
            row += &format!(",\"eval_return\":{},\"eval_return_std\":3", ret + 5.0);
        }
        lines += &row;
        lines += "}\n";
    }
    std::fs::write(dir.join("metrics.jsonl"), lines).unwrap();
    dir.to_path_buf()
}

/// Two seeds of one configuration and one run of another.
fn three_runs(root: &Path, eval: bool) -> Vec<PathBuf> {
    vec![
        fake_run(
            &root.join("ppo-20261126-070000"),
            "ppo",
            "mx1:aaaaaaaaaaaa",
            0.0,
            eval,
        ),
        fake_run(
            &root.join("ppo-20261126-070001"),
            "ppo",
            "mx1:aaaaaaaaaaaa",
            8.0,
            eval,
        ),
        fake_run(
            &root.join("dqn-20261126-070002"),
            "dqn",
            "mx1:bbbbbbbbbbbb",
            -20.0,
            eval,
        ),
    ]
}

/// Check the PNG signature and the IHDR size, decode it, and return its byte length.
fn check_png(path: &Path, size: (u32, u32)) -> usize {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((w, h), size);
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes.clone()))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), size);
    let px = &buf[..info.buffer_size()];
    let non_white = px.chunks(3).filter(|p| p != &[255, 255, 255]).count();
    assert!(non_white > 2000, "only {non_white} drawn pixels");
    assert!(bytes.len() > 2000, "PNG of {} bytes", bytes.len());
    bytes.len()
}

fn count(s: &str, pat: &str) -> usize {
    s.matches(pat).count()
}

/// Data lines in an SVG: polylines of width 2 (axes and ticks are width 1).
fn lines(svg: &str) -> usize {
    svg.split("<polyline")
        .skip(1)
        .filter(|p| p.split("/>").next().unwrap().contains("stroke-width=\"2\""))
        .count()
}

#[test]
fn library_png_and_svg() {
    let root = scratch("lib");
    let runs = three_runs(&root, true);
    let png = root.join("curve.png");
    let s = plot::plot_runs(&runs, &png, None).unwrap();
    assert_eq!(
        s.metric,
        Metric::EvalReturn,
        "eval_return preferred when present"
    );
    assert_eq!(s.curves.len(), 2);
    assert_eq!(s.curves[0].runs.len(), 2);
    assert_eq!(s.curves[0].agent, "ppo");
    assert_eq!(s.curves[1].hash, "mx1:bbbbbbbbbbbb");
    // eval at 5k, 10k, 15k, 20k; mean of the two seeds 10i + 4 + 5, std 4
    assert_eq!(s.curves[0].points.len(), 4);
    assert_eq!(s.curves[0].points[0], (5000.0, 59.0, 55.0, 63.0));
    check_png(&png, (1024, 640));

    let svg = root.join("curve.svg");
    let s = plot::plot_runs(&runs, &svg, Some(Metric::EpisodeReturn)).unwrap();
    assert_eq!(s.curves[0].points.len(), 20);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg"));
    assert_eq!(lines(&text), 2, "one path per line");
    assert_eq!(
        count(&text, "<polygon"),
        1,
        "one band (the two-seed configuration)"
    );
    if s.text {
        assert!(
            text.contains("ppo (mx1:aaaaaaaaaaaa)"),
            "legend names agent and hash"
        );
        assert!(text.contains("dqn (mx1:bbbbbbbbbbbb)"));
        assert!(text.contains("env steps"));
    }
}

#[test]
fn episode_return_without_eval_and_training_curve_name() {
    let root = scratch("noeval");
    let runs = three_runs(&root, false);
    let out = root.join("curve.png");
    let s = plot::plot_runs(&runs[2..], &out, None).unwrap();
    assert_eq!(s.metric, Metric::EpisodeReturn);
    check_png(&out, (1024, 640));
    let err = plot::plot_runs(&runs, &out, Some(Metric::EvalReturn)).unwrap_err();
    assert!(matches!(err, plot::PlotError::NoMetrics { .. }), "{err}");
    // what `train::run` calls at the end
    plot::write_run_curve(&runs[0]);
    check_png(&runs[0].join("curve.png"), (1024, 640));
}

fn memoraxc(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_memoraxc"));
    c.arg("plot").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn cli_writes_png_and_svg() {
    let root = scratch("cli");
    let runs = three_runs(&root, true);
    let r: Vec<&str> = runs.iter().map(|p| p.to_str().unwrap()).collect();
    let png = root.join("out.png");
    let mut args = r.clone();
    args.extend([
        "-o",
        png.to_str().unwrap(),
        "--width",
        "800",
        "--height",
        "500",
    ]);
    let o = memoraxc(&args, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_png(&png, (800, 500));

    // a parent directory of runs stands for its runs; min–max band; explicit metric
    let svg = root.join("out.svg");
    let o = memoraxc(
        &[
            root.to_str().unwrap(),
            "-o",
            svg.to_str().unwrap(),
            "--band",
            "minmax",
            "--metric",
            "episode_return",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg"));
    assert_eq!(lines(&text), 2);
    assert_eq!(count(&text, "<polygon"), 1);
    assert!(String::from_utf8_lossy(&o.stdout).contains("3 run(s), 2 configuration(s)"));
}

#[test]
fn cli_without_font_still_draws() {
    let root = scratch("nofont");
    let runs = three_runs(&root, true);
    let png = root.join("out.png");
    let svg = root.join("out.svg");
    for out in [&png, &svg] {
        let o = memoraxc(
            &[
                runs[0].to_str().unwrap(),
                runs[1].to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ],
            &[("MEMORAXC_FONT", "none")],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    check_png(&png, (1024, 640));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(lines(&text), 1);
    assert!(!text.contains("<text"), "no text without a font");
}

#[test]
fn cli_errors_exit_1() {
    let root = scratch("errors");
    let runs = three_runs(&root, false);
    let empty = root.join("empty-run");
    std::fs::create_dir_all(&empty).unwrap();
    let ok = runs[0].to_str().unwrap();
    let (missing, pdf, out) = (root.join("missing"), root.join("x.pdf"), root.join("x.png"));
    let out = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![missing.to_str().unwrap(), "-o", out],
            "no such run directory",
        ),
        (vec![empty.to_str().unwrap(), "-o", out], "no metrics.jsonl"),
        (
            vec![ok, "-o", pdf.to_str().unwrap()],
            "unknown output format",
        ),
        (
            vec![ok, "-o", out, "--metric", "eval_return"],
            "no `eval_return` values",
        ),
    ];
    for (args, msg) in cases {
        let o = memoraxc(&args, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    assert!(!Path::new(out).exists());
    // usage error: no output given
    assert_eq!(memoraxc(&[ok], &[]).status.code(), Some(2));
}
