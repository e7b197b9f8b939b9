//! `loginwatch`: one CLI over the library crates.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "loginwatch", version, about = "Find Salesforce integrations and attackers that log in with passwords")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline in one process against a simulated org.
    Demo,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo => {
            eprintln!("loginwatch demo: not yet built");
            std::process::exit(2);
        }
    }
}
