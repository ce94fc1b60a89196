//! inception-agent: runs in every node Pod of a kubectl-inception cluster,
//! started by the node image's entrypoint before kubelet.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = inception_agent::Cli::parse();
    inception_agent::init_logs(matches!(
        cli.command,
        Some(inception_agent::Command::JoinWait { .. })
    ));
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("inception-agent: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(inception_agent::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
