fn main() {
    volley::memory::tune_allocator();
    std::process::exit(volley::cli::main());
}
