//! otpctl: the operator's command for whatsapp-otp-worker.
//!
//! Each subcommand lives in its own module; this file only parses the command line
//! (clap: help, usage errors with exit status 2) and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod doctor;
mod keys;
mod net;
mod smoke;
mod templates;

/// otpctl: operator's command for whatsapp-otp-worker.
///
/// Settings are read like the worker gets them, first match wins: environment
/// variables, then .dev.vars, then wrangler.toml [vars], both in the current
/// directory. Secrets are never printed.
#[derive(Debug, Parser)]
#[command(name = "otpctl", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A key pair for ES256 tokens.
    Keys(keys::KeysArgs),
    /// The WhatsApp authentication template: create it, list its review status.
    #[command(disable_help_flag = true)]
    Templates {
        /// `otpctl templates help` lists them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Checks a deployment against Meta and the worker. Exit 0: all pass, 1: one fails, 2: bad usage or settings.
    Doctor(doctor::DoctorArgs),
    /// Requests a code for a test number, verifies it, checks the token. Exit 0 or 1.
    Smoke(smoke::SmokeArgs),
}

/// Where the settings files are: the current directory.
pub fn settings_layers() -> templates::settings::Layers {
    let env = std::env::vars().collect();
    templates::settings::Layers::load(env, std::path::Path::new("."))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(2),
            };
        }
    };
    match cli.command {
        Command::Keys(args) => keys::run(args),
        Command::Templates { args } => templates::run(&args),
        Command::Doctor(args) => doctor::run(args),
        Command::Smoke(args) => smoke::run(args),
    }
}
