//! meta-standin: a local stand-in for Meta's WhatsApp Cloud API.
//!
//! Accepts `POST /{version}/{phone_number_id}/messages` like Meta does, keeps an inbox
//! (JSON and HTML), replays scripted failures, and sends signed webhooks (replies,
//! statuses, raw deliveries) to the worker. Nothing here talks to Meta.

mod account;
#[cfg(test)]
mod fixtures;
mod inbox;
mod meta_errors;
mod routes;
#[cfg(test)]
mod samples;
mod templates;
mod util;
mod validate;
mod webhook;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use inbox::{AppState, Config};

const USAGE: &str = "\
meta-standin: local stand-in for Meta's WhatsApp Cloud API

Usage: meta-standin [--port P] [--host H] [--access-token T] [--app-secret S]
                    [--webhook-url URL] [--phone-number-id ID] [--auto-status]
                    [--waba-id ID] [--seed-template SPEC] [--review-ms MS]

Flags win over environment variables:
  --port P              STANDIN_PORT             default 0 (pick a free port)
  --host H              STANDIN_HOST             default 127.0.0.1
  --access-token T      STANDIN_ACCESS_TOKEN     default dev-access-token
  --app-secret S        STANDIN_APP_SECRET       default dev-app-secret-0123456789
  --webhook-url URL     STANDIN_WEBHOOK_URL      default none (webhook commands answer 409)
  --phone-number-id ID  STANDIN_PHONE_NUMBER_ID  default none (any id accepted)
  --auto-status         STANDIN_AUTO_STATUS=1    post sent+delivered statuses after each send
  --waba-id ID          STANDIN_WABA_ID          default none (any business account id accepted)
  --seed-template SPEC  STANDIN_SEED_TEMPLATE    templates APPROVED from the start, e.g.
                                                 otp_code:en_US,pt_BR,es,de (several: ';'-separated)
                                                 default none: template sends fail with 132001
  --review-ms MS        STANDIN_REVIEW_MS        how long a created template stays PENDING, default 3000

Prints `meta-standin listening on http://HOST:PORT` once bound.";

/// Parses flags (`--flag value` or `--flag=value`) over environment defaults.
fn parse_config(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
    let mut given = Given::from_env(env);
    given.apply_flags(args)?;
    given.into_config()
}

/// The settings as given, still unparsed: the environment, then the flags over it.
struct Given {
    host: Option<String>,
    port: Option<String>,
    access_token: Option<String>,
    app_secret: Option<String>,
    webhook_url: Option<String>,
    phone_number_id: Option<String>,
    waba_id: Option<String>,
    seed: Option<String>,
    review_ms: Option<String>,
    auto_status: bool,
}

impl Given {
    fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Given {
        let env_nonempty = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        Given {
            host: env_nonempty("STANDIN_HOST"),
            port: env_nonempty("STANDIN_PORT"),
            access_token: env_nonempty("STANDIN_ACCESS_TOKEN"),
            app_secret: env_nonempty("STANDIN_APP_SECRET"),
            webhook_url: env_nonempty("STANDIN_WEBHOOK_URL"),
            phone_number_id: env_nonempty("STANDIN_PHONE_NUMBER_ID"),
            waba_id: env_nonempty("STANDIN_WABA_ID"),
            seed: env_nonempty("STANDIN_SEED_TEMPLATE"),
            review_ms: env_nonempty("STANDIN_REVIEW_MS"),
            auto_status: env("STANDIN_AUTO_STATUS")
                .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")),
        }
    }

    /// `--help` comes back as an empty error, for the caller to print the usage.
    fn apply_flags(&mut self, args: &[String]) -> Result<(), String> {
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
                _ => (arg.as_str(), None),
            };
            if flag == "--auto-status" {
                if inline.is_some() {
                    return Err("--auto-status takes no value".into());
                }
                self.auto_status = true;
                i += 1;
                continue;
            }
            if flag == "--help" || flag == "-h" {
                return Err(String::new());
            }
            let slot = match flag {
                "--port" => &mut self.port,
                "--host" => &mut self.host,
                "--access-token" => &mut self.access_token,
                "--app-secret" => &mut self.app_secret,
                "--webhook-url" => &mut self.webhook_url,
                "--phone-number-id" => &mut self.phone_number_id,
                "--waba-id" => &mut self.waba_id,
                "--seed-template" => &mut self.seed,
                "--review-ms" => &mut self.review_ms,
                _ => return Err(format!("unknown argument '{arg}'")),
            };
            let value = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i).cloned().ok_or_else(|| format!("{flag} needs a value"))?
                }
            };
            *slot = Some(value);
            i += 1;
        }
        Ok(())
    }

    fn into_config(self) -> Result<Config, String> {
        let port = match self.port {
            None => 0,
            Some(p) => p.trim().parse::<u16>().map_err(|_| format!("invalid port '{p}'"))?,
        };
        let review_ms = match self.review_ms {
            None => inbox::DEFAULT_REVIEW_MS,
            Some(ms) => ms.trim().parse::<u64>().map_err(|_| format!("invalid --review-ms '{ms}'"))?,
        };
        let seed_templates = match self.seed {
            None => Vec::new(),
            Some(spec) => templates::parse_seed(&spec).map_err(|e| format!("--seed-template: {e}"))?,
        };
        if let Some(url) = &self.webhook_url {
            if !url.starts_with("http://") {
                return Err(format!("--webhook-url must be a plain http:// URL (got '{url}')"));
            }
        }
        Ok(Config {
            host: self.host.unwrap_or_else(|| "127.0.0.1".into()),
            port,
            access_token: self.access_token.unwrap_or_else(|| "dev-access-token".into()),
            app_secret: self.app_secret.unwrap_or_else(|| "dev-app-secret-0123456789".into()),
            webhook_url: self.webhook_url,
            phone_number_id: self.phone_number_id,
            auto_status: self.auto_status,
            waba_id: self.waba_id,
            seed_templates,
            review_ms,
        })
    }
}

/// SIGINT/SIGTERM, registered before the server announces itself so that a signal
/// sent right after the "listening" line is never lost.
struct Shutdown {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Shutdown {
    fn register() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Shutdown { term: signal(SignalKind::terminate()).ok(), int: signal(SignalKind::interrupt()).ok() }
        }
        #[cfg(not(unix))]
        Shutdown {}
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                _ = recv(&mut self.term) => {},
                _ = recv(&mut self.int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse_config(&args, &|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("meta-standin: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };

    let shutdown = Shutdown::register();
    let listener = match tokio::net::TcpListener::bind((config.host.as_str(), config.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("meta-standin: cannot listen on {}:{}: {e}", config.host, config.port);
            std::process::exit(1);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(config.port);
    let shown_host = match config.host.as_str() {
        "0.0.0.0" | "::" | "[::]" => "127.0.0.1".to_string(),
        h if h.contains(':') => format!("[{h}]"),
        h => h.to_string(),
    };
    eprintln!(
        "[meta-standin] access token {}, webhook {}, phone number id {}, auto-status {}, templates {}, review {} ms",
        if config.access_token == "dev-access-token" { "default" } else { "custom" },
        config.webhook_url.as_deref().unwrap_or("none"),
        config.phone_number_id.as_deref().unwrap_or("any"),
        if config.auto_status { "on" } else { "off" },
        if config.seed_templates.is_empty() {
            "none seeded".to_string()
        } else {
            config.seed_templates.iter().map(|(n, l)| format!("{n}:{}", l.join(","))).collect::<Vec<_>>().join(";")
        },
        config.review_ms,
    );

    let app = routes::router(Arc::new(AppState::new(config)));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
    });

    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "meta-standin listening on http://{shown_host}:{port}");
        let _ = out.flush();
    }

    tokio::select! {
        _ = shutdown.wait() => {
            eprintln!("[meta-standin] shutting down");
            let _ = stop_tx.send(());
            // In-flight requests (e.g. a scripted delay) get a short grace period.
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut server).await;
        }
        res = &mut server => {
            if let Ok(Err(e)) = res {
                eprintln!("meta-standin: server error: {e}");
                std::process::exit(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse_config(&args, &|k| env.iter().find(|(ek, _)| ek == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults() {
        let c = parse(&[], &[]).unwrap();
        assert_eq!(c.port, 0);
        assert_eq!(c.host, "127.0.0.1");
        assert_eq!(c.access_token, "dev-access-token");
        assert_eq!(c.app_secret, "dev-app-secret-0123456789");
        assert_eq!(c.webhook_url, None);
        assert_eq!(c.phone_number_id, None);
        assert!(!c.auto_status);
        assert_eq!((c.waba_id, c.seed_templates, c.review_ms), (None, vec![], 3000));
    }

    #[test]
    fn template_flags() {
        let env = [("STANDIN_SEED_TEMPLATE", "otp_code:en_US,pt_BR,es,de"), ("STANDIN_REVIEW_MS", "100")];
        let c = parse(&[], &env).unwrap();
        assert_eq!(
            c.seed_templates,
            vec![("otp_code".to_string(), vec!["en_US".into(), "pt_BR".into(), "es".into(), "de".into()])]
        );
        assert_eq!(c.review_ms, 100);
        let c = parse(&["--seed-template", "a:en;b:es", "--review-ms=0", "--waba-id", "42"], &env).unwrap();
        assert_eq!(c.seed_templates.len(), 2);
        assert_eq!((c.review_ms, c.waba_id.as_deref()), (0, Some("42")));
        assert!(parse(&["--seed-template", "nolang"], &[]).is_err());
        assert!(parse(&["--review-ms", "soon"], &[]).is_err());
    }

    #[test]
    fn flags_win_over_env() {
        let env = [
            ("STANDIN_PORT", "9000"),
            ("STANDIN_ACCESS_TOKEN", "env-token"),
            ("STANDIN_APP_SECRET", "env-secret"),
            ("STANDIN_WEBHOOK_URL", "http://127.0.0.1:1/env"),
            ("STANDIN_PHONE_NUMBER_ID", "111"),
            ("STANDIN_AUTO_STATUS", "1"),
        ];
        let c = parse(&[], &env).unwrap();
        assert_eq!((c.port, c.access_token.as_str(), c.phone_number_id.as_deref()), (9000, "env-token", Some("111")));
        assert!(c.auto_status);
        let c = parse(
            &[
                "--port",
                "9100",
                "--access-token=flag-token",
                "--webhook-url",
                "http://127.0.0.1:8787/webhook",
                "--phone-number-id",
                "222",
            ],
            &env,
        )
        .unwrap();
        assert_eq!(c.port, 9100);
        assert_eq!(c.access_token, "flag-token");
        assert_eq!(c.app_secret, "env-secret");
        assert_eq!(c.webhook_url.as_deref(), Some("http://127.0.0.1:8787/webhook"));
        assert_eq!(c.phone_number_id.as_deref(), Some("222"));
    }

    #[test]
    fn bad_arguments() {
        assert!(parse(&["--port"], &[]).is_err());
        assert!(parse(&["--port", "x"], &[]).is_err());
        assert!(parse(&["--nope"], &[]).is_err());
        assert!(parse(&["--webhook-url", "https://example.com"], &[]).is_err());
        assert!(parse(&["--auto-status=1"], &[]).is_err());
        assert_eq!(parse(&["--help"], &[]), Err(String::new()));
        assert!(parse(&["--auto-status"], &[]).unwrap().auto_status);
    }
}
