//! The `nimbus` binary: everything happens in [`nimbus::cli`], the composition root.

fn main() -> std::process::ExitCode {
    nimbus::cli::main()
}
