//! `doctor` (placeholder until built).

use std::io::Write;

use anyhow::{Result, bail};

use crate::cli::{DoctorArgs, Global};

pub async fn doctor(_global: &Global, _args: &DoctorArgs, _out: &mut impl Write) -> Result<()> {
    bail!("doctor is not built yet")
}
