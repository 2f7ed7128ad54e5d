//! The tokio runtime the read engine runs on: created on first use, owned
//! by the core, and dropped by [`shutdown`] so that a closed reader leaves
//! no threads or sockets behind.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::runtime::{Builder, Runtime};

/// The runtime and the process that built it: a forked child inherits the
/// parent's runtime without its threads, so it must build its own.
struct Owned {
    runtime: Arc<Runtime>,
    pid: u32,
}

static RUNTIME: Mutex<Option<Owned>> = Mutex::new(None);

/// Waiting on the network takes little CPU: two workers drive hundreds of
/// requests and leave the other cores to decoding.
const WORKERS: usize = 2;

/// The runtime, built on first use (and again after [`shutdown`] or in a
/// forked child). A batch holds its `Arc` while it runs, so a concurrent
/// shutdown cannot pull the runtime from under it.
pub fn runtime() -> std::io::Result<Arc<Runtime>> {
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    let pid = std::process::id();
    if let Some(owned) = slot.as_ref() {
        if owned.pid == pid {
            return Ok(owned.runtime.clone());
        }
        // The parent's runtime: its worker threads do not exist here, and
        // dropping it would wait for them forever.
        if let Some(stale) = slot.take() {
            std::mem::forget(stale);
        }
    }
    let runtime = Arc::new(
        Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("audiodecode-io")
            .enable_io()
            .enable_time()
            .build()?,
    );
    *slot = Some(Owned { runtime: runtime.clone(), pid });
    Ok(runtime)
}

/// Drops the runtime (its threads stop, its connections close) once no
/// batch uses it; the next read builds a new one.
pub fn shutdown() {
    let owned = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(owned) = owned {
        if owned.pid != std::process::id() {
            std::mem::forget(owned);
            return;
        }
        // A batch still running holds a clone and drops the last one when
        // it returns; otherwise stop the threads here, bounded in time.
        if let Ok(runtime) = Arc::try_unwrap(owned.runtime) {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}
