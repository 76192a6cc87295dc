/// mimalloc instead of glibc's allocator: training frees and reallocates the same activation
/// buffers (a few hundred KiB each) every minibatch; glibc spent about 5% of PPO-GTrXL's time in
/// `malloc`/`free` (and, before its mmap threshold was raised, page faults on fresh mappings).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(memoraxc::cli::run())
}
