//! otpctl: the operator's command for whatsapp-otp-worker.
//!
//! Each subcommand lives in its own module; this file only dispatches.

use std::process::ExitCode;

mod keys;

const USAGE: &str = "\
otpctl: operator's command for whatsapp-otp-worker

Usage: otpctl <command> [options]

Commands:
  help      this text";

fn usage() -> String {
    format!("{USAGE}\n{}", keys::USAGE)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("help" | "--help" | "-h") => {
            println!("{}", usage());
            ExitCode::SUCCESS
        }
        Some("keys") => keys::run(&args[1..]),
        Some(other) => {
            eprintln!("otpctl: unknown command '{other}'\n\n{}", usage());
            ExitCode::from(2)
        }
    }
}
