//! `connect` (placeholder until built).

use std::io::Write;

use anyhow::{Result, bail};

use crate::cli::{ConnectArgs, Global};

pub async fn connect(_global: &Global, _args: &ConnectArgs, _out: &mut impl Write) -> Result<()> {
    bail!("connect is not built yet")
}
