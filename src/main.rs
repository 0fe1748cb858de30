fn main() -> std::process::ExitCode {
    shale::cli::main()
}
