//! The `herald` binary: all of it lives in the library; see `cli`.

/// glibc's malloc was a third of the group committer's CPU (sled copies and
/// frees a node per insert; the arena lock was contended by the HTTP and
/// worker threads). jemalloc removed it (batch ingest 38k → 60k events/s)
/// and holds less after sled recovers a large directory (backlog RSS when
/// listening 189 → 160 MiB with the settings below). mimalloc was as fast
/// but held ~90 MiB more.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read once at start-up (`_RJEM_MALLOC_CONF` in the
/// environment still overrides them). One arena instead of one per
/// quarter core, and thread caches only for blocks up to 4 KiB: with ~50
/// threads, the defaults kept an idle server at 29–31 MiB against glibc's
/// 23; these keep it at 23 and measured no slower (batch 60–64k events/s,
/// ingest 11k).
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8; 26] = b"narenas:1,tcache_max:4096\0";

fn main() -> std::process::ExitCode {
    herald::cli::main()
}
