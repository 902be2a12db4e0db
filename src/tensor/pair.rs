//! Two cores on one small piece of work.
//!
//! A batch-1 step (sampling, training on one stream) is a chain of small
//! products: a `(1×128)·(128×512)` matrix-vector product takes a few
//! microseconds. A rayon job cannot split them with profit: its sleeping
//! workers take tens of microseconds to wake. [`halves`] hands the second half of such a piece to one helper
//! thread that spins while work comes often (and sleeps after
//! [`SPIN`] without any), so a split costs a fraction of a microsecond.
//!
//! A split never changes a result: the work is cut in the same two halves
//! whether one thread or two run them (the caller's closure decides what
//! each half is, from the shape alone), so `--threads 1` gives the same
//! bits as two.
//!
//! The helper is used only from outside rayon's workers (a training
//! batch's shards already keep every core busy), by one caller at a time
//! (another runs both halves itself), never in a forked child (which has no
//! helper), and not at all where [`super::threads`] is 1 or the machine
//! has one core.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long the helper spins without work before it sleeps.
pub const SPIN: Duration = Duration::from_micros(50);

/// Values a pass of pointwise work reads or writes, at least, for it to run
/// in two halves on the two cores (the CPU backend's row kernels, bias and
/// row-sum passes, gathers, and bf16 packing of a step's rows): a step of
/// char-rnn's LSTM at B=25 writes 22k, of the 2x512 LSTM's at B=64 229k.
pub(crate) const MIN_VALUES: usize = 16 * 1024;

/// One piece of work posted to the helper: the half it runs, and whether
/// it has.
struct Job<'a> {
    work: &'a (dyn Fn(usize) + Sync),
    done: AtomicBool,
    panicked: AtomicBool,
}

/// The helper thread and its mailbox.
struct Helper {
    /// The job posted, or null.
    posted: AtomicPtr<Job<'static>>,
    /// Set while the helper sleeps (the poster then wakes it).
    sleeping: AtomicBool,
    /// Set by the one caller using the helper (see [`Claim`]).
    busy: AtomicBool,
    thread: Thread,
}

static HELPER: OnceLock<Option<&'static Helper>> = OnceLock::new();

/// Set in a child forked after the helper started: the child has no
/// helper thread (only the forking thread survives a fork).
static FORKED: AtomicBool = AtomicBool::new(false);

/// Runs in the child of a fork (registered with `pthread_atfork`).
extern "C" fn forked() {
    FORKED.store(true, Ordering::Relaxed);
}

/// Second halves the helper ran (for tests).
static SPLITS: AtomicU32 = AtomicU32::new(0);

/// The helper, started on first use; `None` on a one-core machine or
/// where a thread cannot be started.
fn helper() -> Option<&'static Helper> {
    *HELPER.get_or_init(|| {
        if thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            return None;
        }
        let (tx, rx) = std::sync::mpsc::channel::<&'static Helper>();
        let spawned = thread::Builder::new()
            .name("recur-pair".into())
            .spawn(move || {
                let Ok(h) = rx.recv() else { return };
                serve(h);
            })
            .ok()?;
        let helper: &'static Helper = Box::leak(Box::new(Helper {
            posted: AtomicPtr::new(std::ptr::null_mut()),
            sleeping: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            thread: spawned.thread().clone(),
        }));
        tx.send(helper).ok()?;
        // SAFETY: registers a handler that only stores to an atomic.
        if unsafe { libc::pthread_atfork(None, None, Some(forked)) } != 0 {
            FORKED.store(true, Ordering::Relaxed);
        }
        Some(helper)
    })
}

/// The helper's loop: run each posted job's second half; spin between
/// jobs, sleep after [`SPIN`] without one.
fn serve(h: &'static Helper) {
    let mut idle_since = Instant::now();
    let mut spins = 0u32;
    loop {
        let job = h.posted.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !job.is_null() {
            // SAFETY: the poster keeps the job alive until `done` is set,
            // and nothing else reads this pointer (it was swapped out).
            let job = unsafe { &*job };
            let ok = catch_unwind(AssertUnwindSafe(|| (job.work)(1))).is_ok();
            job.panicked.store(!ok, Ordering::Relaxed);
            job.done.store(true, Ordering::Release);
            idle_since = Instant::now();
            continue;
        }
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(1024) && idle_since.elapsed() > SPIN {
            h.sleeping.store(true, Ordering::SeqCst);
            if h.posted.load(Ordering::SeqCst).is_null() {
                thread::park();
            }
            h.sleeping.store(false, Ordering::SeqCst);
            idle_since = Instant::now();
        }
    }
}

/// Run `work(0)` and `work(1)`, the two halves of one piece of work, on
/// two cores where the helper is free (see the module docs), else one
/// after the other on this thread; a helper that has not started the
/// second half when the first is done is not waited for (the second runs
/// here). Returns when both are done.
pub fn halves(work: &(dyn Fn(usize) + Sync)) {
    let usable = super::threads() != 1 && super::may_split();
    let Some(h) = helper().filter(|_| usable && !FORKED.load(Ordering::Relaxed)) else {
        work(0);
        work(1);
        return;
    };
    let Some(_claim) = Claim::take(&h.busy) else {
        work(0);
        work(1);
        return;
    };
    let job = Job {
        work,
        done: AtomicBool::new(false),
        panicked: AtomicBool::new(false),
    };
    // SAFETY (lifetime): the helper reads the job only until it sets
    // `done`, and this function does not return (or unwind) before that.
    let ptr = &job as *const Job<'_> as *mut Job<'static>;
    h.posted.store(ptr, Ordering::SeqCst);
    if h.sleeping.load(Ordering::SeqCst) {
        h.thread.unpark();
    }
    // Our half; a panic in it waits for the helper before unwinding.
    let ours = catch_unwind(AssertUnwindSafe(|| work(0)));
    // A helper that has not taken the job yet (asleep, or off its core on
    // a busy machine) is not waited for: the job is taken back and run here.
    let taken_back = h
        .posted
        .compare_exchange(
            ptr,
            std::ptr::null_mut(),
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok();
    if taken_back {
        let theirs = catch_unwind(AssertUnwindSafe(|| work(1)));
        job.panicked.store(theirs.is_err(), Ordering::Relaxed);
    } else {
        let mut spins = 0u32;
        while !job.done.load(Ordering::Acquire) {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(4096) {
                thread::yield_now();
            }
        }
        SPLITS.fetch_add(1, Ordering::Relaxed);
    }
    if let Err(e) = ours {
        std::panic::resume_unwind(e);
    }
    assert!(
        !job.panicked.load(Ordering::Relaxed),
        "the second half of a split product panicked"
    );
}

/// The use of the helper by one caller, given back when dropped (also
/// when a half panics: a lock would stay poisoned).
struct Claim<'a>(&'a AtomicBool);

impl<'a> Claim<'a> {
    /// Claim the helper if no one else has.
    fn take(busy: &'a AtomicBool) -> Option<Self> {
        busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Claim(busy))
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// [`halves`] of `x` cut at `mid`: `work(0, &mut x[..mid])` and
/// `work(1, &mut x[mid..])`.
pub fn halves_of<T: Send>(x: &mut [T], mid: usize, work: &(dyn Fn(usize, &mut [T]) + Sync)) {
    halves_of_each([x], [mid], &|half, [x]| work(half, x));
}

/// [`halves`] of each of `xs`, slice `i` cut at `mids[i]`: `work(0, ..)`
/// gets the parts before the cuts, `work(1, ..)` the parts from them on.
pub fn halves_of_each<T: Send, const N: usize>(
    xs: [&mut [T]; N],
    mids: [usize; N],
    work: &(dyn Fn(usize, [&mut [T]; N]) + Sync),
) {
    let mut parts = [[(Shared(std::ptr::null_mut()), 0); N]; 2];
    for (i, (x, mid)) in xs.into_iter().zip(mids).enumerate() {
        let (first, second) = x.split_at_mut(mid);
        parts[0][i] = (Shared::new(first), first.len());
        parts[1][i] = (Shared::new(second), second.len());
    }
    halves(&|half| {
        // SAFETY: the parts are disjoint (each slice cut in two), and each
        // half uses its own.
        let mine =
            parts[half].map(|(at, len)| unsafe { std::slice::from_raw_parts_mut(at.get(), len) });
        work(half, mine);
    });
}

/// A pointer the two halves of a split share, each writing its own part
/// of what it points to.
pub(crate) struct Shared<T>(*mut T);

// A pointer copies whatever it points to (a derive would ask `T: Copy`).
impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Shared<T> {}

// SAFETY: the halves given a `Shared` write disjoint elements (each user
// says why), so sharing the pointer between the two threads is sound.
unsafe impl<T: Send> Sync for Shared<T> {}
unsafe impl<T: Send> Send for Shared<T> {}

impl<T> Shared<T> {
    /// Share `x`'s elements.
    pub fn new(x: &mut [T]) -> Self {
        Shared(x.as_mut_ptr())
    }

    /// The pointer (a method, so that closures capture the whole `Shared`).
    pub fn get(self) -> *mut T {
        self.0
    }
}

/// How many pieces of work ran on two cores so far (for tests).
pub fn splits() -> u32 {
    SPLITS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn both_halves_run_once_each() {
        for _ in 0..1000 {
            let (a, b) = (AtomicUsize::new(0), AtomicUsize::new(0));
            halves(&|i| {
                [&a, &b][i].fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!((a.into_inner(), b.into_inner()), (1, 1));
        }
    }

    #[test]
    fn the_second_half_runs_on_the_helper_while_the_first_runs_here() {
        if thread::available_parallelism().map_or(1, |n| n.get()) < 2
            || crate::tensor::threads() == 1
        {
            eprintln!("one core: nothing runs on a helper");
            return;
        }
        // The first half waits (up to a second) for the second to start,
        // so it cannot be taken back: it must run on the helper. (Another
        // test may hold the helper: then both halves run here; try again.)
        let before = splits();
        let helped = (0..20).any(|_| {
            let started = AtomicBool::new(false);
            let on = Mutex::new(None);
            halves(&|i| {
                if i == 1 {
                    *on.lock().unwrap() = thread::current().name().map(String::from);
                    started.store(true, Ordering::SeqCst);
                } else {
                    let t = Instant::now();
                    while !started.load(Ordering::SeqCst) && t.elapsed() < Duration::from_secs(1) {
                        std::hint::spin_loop();
                    }
                }
            });
            on.into_inner().unwrap().as_deref() == Some("recur-pair")
        });
        assert!(helped, "the helper never ran a second half");
        assert!(splits() > before);
    }

    #[test]
    fn the_helper_wakes_after_sleeping() {
        let n = AtomicUsize::new(0);
        halves(&|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        std::thread::sleep(SPIN * 5);
        halves(&|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.into_inner(), 4);
    }

    #[test]
    fn a_panicking_half_panics_the_caller() {
        let r = std::panic::catch_unwind(|| halves(&|i| assert!(i == 0, "half {i}")));
        assert!(r.is_err());
        // The helper survives it.
        let n = AtomicUsize::new(0);
        halves(&|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.into_inner(), 2);
    }
}
