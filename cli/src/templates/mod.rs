//! `otpctl templates`: creates the WhatsApp authentication template through the Graph
//! API, one call per language, and lists templates with each language's review status.
//!
//! `args` reads the command line, `plan` decides what a creation run does, `create`
//! and `list` talk to Meta; `payload` builds the creation body, `explain` turns
//! Meta's refusals into advice.

mod args;
mod create;
pub(crate) mod explain;
mod graph;
mod list;
mod payload;
mod plan;
pub(crate) mod settings;

use std::collections::HashMap;
use std::process::ExitCode;

use args::{parse_args, Parsed, USAGE};
use settings::{Layers, Settings};

fn usage_error(e: &str) -> ExitCode {
    eprintln!("otpctl templates: {e}");
    ExitCode::from(2)
}

pub fn run(args: &[String]) -> ExitCode {
    let args = match parse_args(args) {
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run(a)) => a,
        Err(e) => return usage_error(&format!("{e}\n\n{USAGE}")),
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    let dir = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let layers = Layers::load(env, &dir);
    for w in &layers.warnings {
        eprintln!("otpctl: warning: {w}");
    }
    let settings = match Settings::from_layers(&layers) {
        Ok(s) => s,
        Err(errors) => return usage_error(&format!("invalid settings:\n  {}", errors.join("\n  "))),
    };
    if args.list {
        list::list(&args, &settings)
    } else {
        create::create(&args, &settings)
    }
}
