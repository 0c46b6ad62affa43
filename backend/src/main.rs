//! The `nimbus` binary: everything happens in [`nimbus::cli`], the composition root.

// A server allocates and frees small buffers on every request; mimalloc does that with less
// CPU than the system allocator (measured by `scripts/bench-api`, see decision 0006).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    nimbus::cli::main()
}
