//! The thread pool every parallel operation runs on.
//!
//! rayon's global pool does not survive `fork()`: a child process (a torch
//! DataLoader worker, a multiprocessing fork) inherits the pool's state but
//! not its threads, and the first parallel call waits forever. So the core
//! keeps its own default pool and builds a new one when it finds itself in
//! a different process than the pool was built in.

use std::sync::{Arc, Mutex};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{Error, Result};

struct Owned {
    pid: u32,
    pool: Arc<ThreadPool>,
}

static DEFAULT: Mutex<Option<Owned>> = Mutex::new(None);

/// Runs `work` on the default pool (one thread per core), or on a pool of
/// `threads` threads.
pub fn run<T: Send>(threads: Option<usize>, work: impl FnOnce() -> T + Send) -> Result<T> {
    let pool = match threads {
        None => default_pool()?,
        Some(0) => return Err(Error::invalid("num_threads must be >= 1")),
        Some(n) => Arc::new(build(n)?),
    };
    Ok(pool.install(work))
}

/// Runs `work` on the default pool without waiting for it.
pub fn spawn(work: impl FnOnce() + Send + 'static) -> Result<()> {
    default_pool()?.spawn(work);
    Ok(())
}

fn default_pool() -> Result<Arc<ThreadPool>> {
    let pid = std::process::id();
    let mut slot = DEFAULT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(owned) = slot.as_ref().filter(|owned| owned.pid == pid) {
        return Ok(owned.pool.clone());
    }
    if let Some(stale) = slot.take() {
        // Inherited through fork(): its threads live in the parent only, and
        // dropping it would wait for them. Leak it instead.
        std::mem::forget(stale);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = Arc::new(build(threads)?);
    *slot = Some(Owned { pid, pool: pool.clone() });
    Ok(pool)
}

fn build(threads: usize) -> Result<ThreadPool> {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("audiodecode-{i}"))
        .build()
        .map_err(|err| Error::invalid(format!("cannot start {threads} threads: {err}")))
}
