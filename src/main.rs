//! The `herald` binary: all of it lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    herald::cli::main()
}
