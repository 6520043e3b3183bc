fn main() {
    std::process::exit(vmharness::cli::main());
}
