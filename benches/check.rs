//! Front-end latency: `check` (parse, imports, elaboration, shapes, carries) of every shipped
//! architecture and example file, the work `memoraxc check FILE` does before printing.
//! Target: well under 50 ms per file. Run: `cargo bench --bench check`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn shipped_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["architectures", "examples"] {
        let mut in_dir: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .expect("shipped directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "mx"))
            .collect();
        in_dir.sort();
        files.extend(in_dir);
    }
    files
}

fn bench_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    for path in shipped_files() {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        group.bench_with_input(BenchmarkId::from_parameter(name), &path, |b, path| {
            b.iter(|| {
                let out = memoraxc::check::check_path(black_box(path), &[]);
                black_box(out)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_check);
criterion_main!(benches);
