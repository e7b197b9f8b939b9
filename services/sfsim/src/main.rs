fn main() {
    eprintln!("loginwatch-sfsim: not yet built");
    std::process::exit(2);
}
