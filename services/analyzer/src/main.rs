fn main() {
    eprintln!("loginwatch-analyzer: not yet built");
    std::process::exit(2);
}
