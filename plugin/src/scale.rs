//! `scale` (placeholder until built).

use std::io::Write;

use anyhow::{Result, bail};

use crate::cli::{ScaleArgs, Global};

pub async fn scale(_global: &Global, _args: &ScaleArgs, _out: &mut impl Write) -> Result<()> {
    bail!("scale is not built yet")
}
