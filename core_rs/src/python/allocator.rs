//! The extension's Rust allocations (decoded audio above all) come from
//! mimalloc, as polars' do, instead of the process's malloc.
//!
//! A decoded array is allocated on a `load_batch` worker thread and freed
//! by numpy on the main thread. glibc gives each thread its own arena and
//! hands a freed block that large back to the kernel, so every file's
//! output faulted its pages in afresh: 80-90 minor faults per second of
//! stereo audio, which made a WAV decode slower than libsndfile's
//! (docs/benchmarks-decode-per-core.md). mimalloc keeps freed pages for its
//! purge delay and gives them to the next allocation, from any thread.
//! numpy frees these arrays through the `Vec`'s own drop
//! (`PyArray1::from_vec`), so they go back to the allocator they came from.
//!
//! Only the extension uses it (`cargo test` keeps the system allocator).
//! It is linked in statically and private to us: its options change nothing
//! for the rest of the process.

use std::os::raw::c_long;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (libmimalloc-sys
/// does not name it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed pages are kept before they go back to the kernel. The
/// default (1 s) is shorter than the pause between two batches of a
/// training loop (a model step), so every other batch faulted its output in
/// again; 10 s keeps them across such pauses, and what is kept is never
/// more than the peak the batches reached.
const PURGE_DELAY_MS: c_long = 10_000;

/// Sets the purge delay, unless the user chose one (`MIMALLOC_PURGE_DELAY`,
/// which mimalloc reads itself).
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option; mimalloc reads it on each purge.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) };
    }
}
