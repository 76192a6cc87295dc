//! A persistent helper thread for fork-join of short host jobs.
//!
//! A DQN gradient step at batch 64 is a handful of products of 10–30 µs each. Spawning a thread
//! per step costs about as much as the work, and a sleeping pool's wake-up (futex) adds 5–50 µs
//! per join: both measured slower than one thread. Here the helper spins for a while after each
//! job, so the next job it gets within that window starts within a cache-line transfer; after
//! the window it parks, so an idle run does not keep a core busy.
//!
//! The caller waits the same way: it spins for [`SPIN`], then parks until the helper wakes it
//! (it used to call `sched_yield` in a loop). In PPO with separate networks each side of the
//! join is one network's whole update, and the side that finishes first can wait 5–50 ms for
//! the other; parked, it leaves its vCPU to the host instead of keeping it busy with system
//! calls.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

/// How long the idle helper, and a caller waiting for it, spin before they park.
const SPIN: Duration = Duration::from_micros(300);

const IDLE: u8 = 0;
const POSTED: u8 = 1;
const DONE: u8 = 2;
const SHUTDOWN: u8 = 3;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// State shared by the caller and the helper; `job` and `panic` are handed over by `state`
/// (the caller writes `job` before `POSTED`, the helper writes `panic` before `DONE`).
struct Shared {
    state: AtomicU8,
    /// Set while the helper is parked (or about to park): only then does a post need `unpark`.
    parked: AtomicBool,
    /// Set while the caller is parked in `wait` (or about to park): only then does `DONE` need
    /// to wake it.
    caller_parked: AtomicBool,
    /// The thread of the current `join`'s caller (written before `POSTED`, like `job`).
    caller: UnsafeCell<Option<Thread>>,
    job: UnsafeCell<Option<Job>>,
    panic: UnsafeCell<Option<Box<dyn Any + Send>>>,
}

// SAFETY: `job` and `panic` are only touched by the side that `state` gives them to.
unsafe impl Sync for Shared {}

/// A second thread that runs one side of [`Fork::join`].
pub struct Fork {
    shared: Arc<Shared>,
    helper: Option<JoinHandle<()>>,
}

/// A raw pointer that may cross to the helper (the caller waits until the helper is done with it).
struct SendPtr<T>(*mut T);
// SAFETY: the pointee outlives the job, and only the helper touches it while the job runs.
unsafe impl<T: Send> Send for SendPtr<T> {}

impl Fork {
    /// A helper thread, when the machine has a second core to run it on.
    pub fn new() -> Option<Fork> {
        if thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            return None;
        }
        let shared = Arc::new(Shared {
            state: AtomicU8::new(IDLE),
            parked: AtomicBool::new(false),
            caller_parked: AtomicBool::new(false),
            caller: UnsafeCell::new(None),
            job: UnsafeCell::new(None),
            panic: UnsafeCell::new(None),
        });
        let theirs = shared.clone();
        let helper = thread::Builder::new()
            .name("memoraxc-fork".into())
            .spawn(move || serve(&theirs))
            .ok()?;
        Some(Fork {
            shared,
            helper: Some(helper),
        })
    }

    /// Runs `a` on the helper and `b` on the calling thread; returns both results once both are
    /// done. A panic in either is resumed here after both have finished. Not reentrant: neither
    /// side may call `join` on the same fork.
    pub fn join<A: Send, B>(&self, a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
        let mut ra: Option<A> = None;
        let slot = SendPtr(&mut ra as *mut Option<A>);
        let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
            let slot = slot;
            // SAFETY: `ra` lives until `join` returns, which waits for this job to finish.
            unsafe { *slot.0 = Some(a()) };
        });
        // SAFETY: the job borrows from this frame; `join` does not return (or unwind) before the
        // helper has finished and dropped it (`wait` below runs even when `b` panics).
        let job: Job = unsafe { std::mem::transmute(job) };
        // SAFETY: the helper is idle (every `join` waits for `DONE`), so the slot is ours.
        unsafe {
            *self.shared.job.get() = Some(job);
            *self.shared.caller.get() = Some(thread::current());
        }
        // SeqCst pairs with the helper's `parked` store then `state` load: either it sees the
        // post before parking, or this sees `parked` and wakes it.
        self.shared.state.store(POSTED, Ordering::SeqCst);
        if self.shared.parked.load(Ordering::SeqCst)
            && let Some(h) = &self.helper
        {
            h.thread().unpark();
        }
        let rb = catch_unwind(AssertUnwindSafe(b));
        self.wait();
        // SAFETY: the helper wrote `panic` before `DONE` and is idle now.
        if let Some(p) = unsafe { (*self.shared.panic.get()).take() } {
            resume_unwind(p);
        }
        match rb {
            Ok(rb) => (ra.expect("the helper ran the job"), rb),
            Err(p) => resume_unwind(p),
        }
    }

    /// Spins for [`SPIN`], then parks, until the helper has finished the posted job.
    fn wait(&self) {
        let since = Instant::now();
        let mut spins = 0u32;
        while self.shared.state.load(Ordering::Acquire) != DONE {
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) || since.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            // SeqCst pairs with the helper's `DONE` store then `caller_parked` load: either this
            // sees `DONE` before parking, or the helper sees `caller_parked` and wakes it
            self.shared.caller_parked.store(true, Ordering::SeqCst);
            if self.shared.state.load(Ordering::SeqCst) != DONE {
                thread::park_timeout(Duration::from_millis(50));
            }
            self.shared.caller_parked.store(false, Ordering::SeqCst);
        }
        self.shared.state.store(IDLE, Ordering::Relaxed);
    }
}

impl Drop for Fork {
    fn drop(&mut self) {
        self.shared.state.store(SHUTDOWN, Ordering::SeqCst);
        if let Some(h) = self.helper.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

/// The helper's loop: wait for a job (spinning for [`SPIN`], then parked), run it, report.
fn serve(shared: &Shared) {
    loop {
        let idle_since = Instant::now();
        let mut spins = 0u32;
        loop {
            match shared.state.load(Ordering::SeqCst) {
                POSTED => break,
                SHUTDOWN => return,
                _ => {}
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) || idle_since.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            shared.parked.store(true, Ordering::SeqCst);
            if !matches!(shared.state.load(Ordering::SeqCst), POSTED | SHUTDOWN) {
                thread::park_timeout(Duration::from_millis(50));
            }
            shared.parked.store(false, Ordering::SeqCst);
        }
        // SAFETY: `POSTED` hands the job and caller slots to this thread.
        let (job, caller) = unsafe { ((*shared.job.get()).take(), (*shared.caller.get()).take()) };
        if let Some(job) = job
            && let Err(p) = catch_unwind(AssertUnwindSafe(job))
        {
            // SAFETY: the caller reads `panic` only after `DONE`.
            unsafe { *shared.panic.get() = Some(p) };
        }
        shared.state.store(DONE, Ordering::SeqCst);
        if shared.caller_parked.load(Ordering::SeqCst)
            && let Some(caller) = caller
        {
            caller.unpark();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_runs_both_sides_and_returns_borrowed_results() {
        let Some(fork) = Fork::new() else { return };
        let data: Vec<u64> = (0..10_000).collect();
        for round in 0..200u64 {
            let (a, b) = fork.join(
                || data.iter().map(|x| x * round).sum::<u64>(),
                || data.iter().rev().take(10).sum::<u64>() + round,
            );
            assert_eq!(a, round * 49_995_000);
            assert_eq!(b, 99_945 + round);
        }
        // after the spin window the helper parks; a later join still runs
        thread::sleep(SPIN * 4);
        let (a, b) = fork.join(|| 1, || 2);
        assert_eq!((a, b), (1, 2));
    }

    /// A caller that waits longer than the spin window parks and is woken by the helper; a
    /// helper that waits longer parks and is woken by the next post.
    #[test]
    fn long_sides_park_and_wake() {
        let Some(fork) = Fork::new() else { return };
        for round in 0..4u64 {
            let slow = SPIN * 8;
            let (a, b) = fork.join(
                || {
                    thread::sleep(slow);
                    round
                },
                || round + 1,
            );
            assert_eq!((a, b), (round, round + 1));
            let (a, b) = fork.join(
                || round * 2,
                || {
                    thread::sleep(slow);
                    round * 3
                },
            );
            assert_eq!((a, b), (round * 2, round * 3));
        }
    }

    #[test]
    fn a_panic_on_either_side_reaches_the_caller_and_the_fork_stays_usable() {
        let Some(fork) = Fork::new() else { return };
        let helper = catch_unwind(AssertUnwindSafe(|| fork.join(|| panic!("helper"), || 0)));
        assert!(helper.is_err());
        let caller = catch_unwind(AssertUnwindSafe(|| fork.join(|| 0, || panic!("caller"))));
        assert!(caller.is_err());
        assert_eq!(fork.join(|| 3, || 4), (3, 4));
    }
}
