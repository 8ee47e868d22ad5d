//! The `herald` binary: all of it lives in the library; see `cli`.

/// glibc's malloc was a third of the group committer's CPU (sled copies and
/// frees a node per insert; the arena lock was contended by the HTTP and
/// worker threads). jemalloc's thread caches removed it (batch ingest
/// 38k → 59k events/s) and its arenas fragment less after sled recovers
/// a large directory (backlog RSS 218 → 189 MiB). mimalloc was as fast
/// but held ~90 MiB more.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    herald::cli::main()
}
