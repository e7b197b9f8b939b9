fn main() {
    eprintln!("loginwatch-ingester: not yet built");
    std::process::exit(2);
}
