//! otpctl: the operator's command for whatsapp-otp-worker.
//!
//! Each subcommand lives in its own module; this file only dispatches.

use std::process::ExitCode;

mod keys;
mod templates;

const USAGE: &str = "\
otpctl: operator's command for whatsapp-otp-worker

Usage: otpctl <command> [options]

Commands:
  keys      a key pair for ES256 tokens: keys generate [--kid K]
  templates the WhatsApp authentication template: create it, list its review status
  help      this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("keys") => keys::run(&args[1..]),
        Some("templates") => templates::run(&args[1..]),
        Some(other) => {
            eprintln!("otpctl: unknown command '{other}'\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
