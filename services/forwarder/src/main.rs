fn main() {
    eprintln!("loginwatch-forwarder: not yet built");
    std::process::exit(2);
}
