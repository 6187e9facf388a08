//! The `faultlab` binary: a thin shell over the orchestrator library.

use clap::Parser;
use orchestrator::cli::{self, Cli};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli::main(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
