//! `disconnect PATH`: removes from your kubeconfig the context, cluster
//! and user `connect` or `kubeconfig --merge` added for cluster PATH, for
//! when that command could not do it itself (killed, machine restarted).

use std::io::Write;

use anyhow::Result;
use nesting::ClusterPath;

use crate::cli::{DisconnectArgs, Global};
use crate::kubeconfig_file::remove::{remove_from_file, report};
use crate::kubeconfig_file::user_kubeconfig;

pub fn disconnect(global: &Global, args: &DisconnectArgs, out: &mut impl Write) -> Result<()> {
    let path: ClusterPath = args.path.parse()?;
    let file = user_kubeconfig(global)?;
    let removed = remove_from_file(&file, &path)?;
    report(out, &file, &path, &removed)
}
