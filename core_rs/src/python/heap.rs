//! How glibc's malloc treats the `bytes` objects the extension hands to
//! Python: kept for the next batch instead of given back to the kernel.
//!
//! Every record a batch reads becomes a Python `bytes` (tens to hundreds of
//! kB), allocated by the process's malloc and freed once it is decoded.
//! With glibc's defaults a freed block below 128 kB goes back to the top of
//! the heap and the heap is trimmed as soon as 128 kB are free at its top,
//! so each batch of 32 records faulted its ~2.7 MB in afresh: page faults
//! were a third of the engine's CPU per ranged request (`perf`; at 20 ms,
//! 138-140 us per 84 kB request with glibc's defaults, 75-91 with the
//! thresholds below; docs/guide/object-storage.md). glibc raises the same
//! thresholds by itself once a large block it mapped is freed (up to a
//! 32 MiB mapping threshold, trimming at twice that); this sets them to
//! where it would end, so what the process keeps is at most 64 MiB of free
//! heap above its peak use.
//!
//! The setting is process-wide (it is the process's malloc), so a user who
//! set either threshold (`MALLOC_TRIM_THRESHOLD_`, `MALLOC_MMAP_THRESHOLD_`
//! or `GLIBC_TUNABLES`) keeps theirs; `MALLOC_TRIM_THRESHOLD_=131072`
//! restores glibc's default behaviour.

/// glibc's largest dynamic mapping threshold on 64-bit targets
/// (`DEFAULT_MMAP_THRESHOLD_MAX`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;

/// Twice the mapping threshold, as glibc's dynamic rule sets it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 64 << 20;

/// Raises glibc's trim and mapping thresholds unless the user set them.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let chosen = ["MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"].iter().any(|k| std::env::var_os(k).is_some())
            || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("malloc."));
        if !chosen {
            // SAFETY: sets two integer parameters of glibc's malloc, which
            // takes its own lock to change them.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
                libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            }
        }
    }
}
