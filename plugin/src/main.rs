fn main() -> std::process::ExitCode {
    kubectl_inception::main()
}
