fn main() {
    std::process::exit(volley::cli::main());
}
