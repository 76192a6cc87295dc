fn main() -> std::process::ExitCode {
    tune_allocator();
    std::process::ExitCode::from(memoraxc::cli::run())
}

/// Keeps glibc from serving every activation buffer above 128 KiB with a fresh `mmap` (zeroed
/// pages, one page fault per 4 KiB, unmapped again on free): training reallocates the same
/// few-hundred-KiB buffers every step, which showed as ~5% page-fault time in the PPO profile.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}
