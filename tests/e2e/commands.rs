//! Running the tools the tests call (node, tsc, otpctl, python) without holding up the
//! runtime's other tests while one runs.

use std::process::{Command, Output};

/// Runs `command` to its end on a blocking thread.
pub async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("the command starts"))
        .await
        .expect("the command finishes")
}

/// Its standard output, after asserting it succeeded (else both outputs, under `what`).
pub fn ok_or_show(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}
