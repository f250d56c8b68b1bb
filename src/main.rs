//! The `cc-server` executable: everything lives in the library; this only hands over the exit code.

fn main() -> std::process::ExitCode {
    cc_server::cli::main()
}
