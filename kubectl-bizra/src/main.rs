fn main() -> std::process::ExitCode {
    kubectl_bizra::main()
}
