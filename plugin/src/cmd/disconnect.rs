//! `disconnect PATH`: stops the tunnels to cluster PATH that `kubeconfig
//! --detach` left in the background, and removes from your kubeconfig the
//! context, cluster and user `connect` or `kubeconfig --merge` added for
//! it, for when that command could not do it itself (killed, machine
//! restarted).

use std::io::Write;

use anyhow::Result;
use nesting::ClusterPath;

use crate::cli::{DisconnectArgs, Global};
use crate::cmd::kubeconfig::tunnels;
use crate::kubeconfig_file::remove::{remove_from_file, report};
use crate::kubeconfig_file::user_kubeconfig;

pub fn disconnect(global: &Global, args: &DisconnectArgs, out: &mut impl Write) -> Result<()> {
    let path: ClusterPath = args.path.parse()?;
    tunnels::stop(&path, global.context.as_deref(), out)?;
    let file = user_kubeconfig(global)?;
    let removed = remove_from_file(&file, &path)?;
    report(out, &file, &path, &removed)
}
