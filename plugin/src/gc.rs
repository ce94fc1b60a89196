//! `gc` (placeholder until built).

use std::io::Write;

use anyhow::{Result, bail};

use crate::cli::{GcArgs, Global};

pub async fn gc(_global: &Global, _args: &GcArgs, _out: &mut impl Write) -> Result<()> {
    bail!("gc is not built yet")
}
