fn main() -> std::process::ExitCode {
    alpi::cli::main()
}
