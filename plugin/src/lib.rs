//! `kubectl inception`: real Kubernetes clusters inside Kubernetes, nested.

mod apply;
pub mod cli;
mod client;
mod cmd;
mod complete;
mod discover;
mod existing;
#[cfg(test)]
mod fake;
mod kubeconfig_file;
mod logging;
mod output;
mod progress;
mod proxy;
mod reach;
mod repeats;
mod request;
mod retry;
mod state;
mod storage_class;
mod token;
mod tunnel;
mod wait;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// Parses the command line, runs it, prints errors on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.global.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        // `connect -- CMD`: the command's own exit code, it spoke for itself.
        Err(e) if e.downcast_ref::<CommandFailed>().is_some() => {
            let code = e.downcast_ref::<CommandFailed>().map_or(1, |c| c.0);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A command run by `connect` exited with this code.
#[derive(Debug, thiserror::Error)]
#[error("the command exited with code {0}")]
pub struct CommandFailed(pub i32);

/// `kubectl inception ... | head` is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    // Commands that need no cluster run without a runtime.
    match &cli.command {
        Command::Up(args) if args.dry_run => {
            return cmd::plan::dry_run(&cli.global, args, &mut out);
        }
        Command::Completion(args) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(args.shell, &mut cmd, "kubectl-inception", &mut out);
            return Ok(());
        }
        Command::Disconnect(args) => {
            return cmd::disconnect::disconnect(&cli.global, args, &mut out);
        }
        Command::Tree(args) => {
            if let Some(name) = &args.plan {
                return cmd::plan::tree(&cli.global, name, args, &mut out);
            }
        }
        _ => {}
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        match &cli.command {
            Command::Up(args) => cmd::up::up(&cli.global, args, &mut out).await,
            Command::Tree(args) => cmd::tree::tree(&cli.global, args, &mut out).await,
            Command::Down(args) => cmd::down::down(&cli.global, args, &mut out).await,
            Command::Kubeconfig(args) => {
                cmd::kubeconfig::kubeconfig(&cli.global, args, &mut out).await
            }
            Command::Test(args) => cmd::test::test(&cli.global, args, &mut out).await,
            Command::Connect(args) => cmd::connect::connect(&cli.global, args, &mut out).await,
            Command::Certs(args) => cmd::certs::certs(&cli.global, args, &mut out).await,
            Command::Scale(args) => cmd::scale::scale(&cli.global, args, &mut out).await,
            Command::Pause(args) => cmd::pause::pause(&cli.global, args, &mut out).await,
            Command::Resume(args) => cmd::pause::resume(&cli.global, args, &mut out).await,
            Command::Gc(args) => cmd::gc::gc(&cli.global, args, &mut out).await,
            Command::Doctor(args) => cmd::doctor::doctor(&cli.global, args, &mut out).await,
            Command::Load(args) => cmd::load::load(&cli.global, args, &mut out).await,
            Command::Complete(args) => {
                let root = <Cli as clap::CommandFactory>::command();
                complete::complete(&root, &cli.global, &args.words, &mut out).await
            }
            Command::Completion(_) | Command::Disconnect(_) => {
                unreachable!("answered before the runtime starts")
            }
        }
    })
}
