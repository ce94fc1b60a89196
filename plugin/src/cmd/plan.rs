//! Planning commands: `up --dry-run` and `tree --plan`.

use std::io::Write;

use anyhow::Result;
use nesting::Plan;

use crate::cli::{Format, Global, TreeArgs, TreeFormat, UpArgs};
use crate::output;
use crate::request::request;

/// `up --dry-run`: prints the plan, needs no cluster.
pub fn dry_run(global: &Global, args: &UpArgs, out: &mut impl Write) -> Result<()> {
    let plan = Plan::new(&request(global, &args.name, &args.plan)?)?;
    tracing::info!(clusters = plan.clusters.len(), "planned");
    match args.output {
        Format::Yaml => output::plan_yaml(&plan, args.show_secrets, out),
        Format::Json => output::plan_json(&plan, args.show_secrets, out),
    }
}

/// `tree --plan NAME`: the planned tree, needs no cluster.
pub fn tree(global: &Global, name: &str, args: &TreeArgs, out: &mut impl Write) -> Result<()> {
    let plan = Plan::new(&request(global, name, &args.plan_args.0)?)?;
    let view = plan.view();
    match args.output {
        // The plan's table has all it knows already.
        TreeFormat::Table | TreeFormat::Wide => output::tree_table(&view, out),
        TreeFormat::Json => output::json(&view, out),
        TreeFormat::Yaml => output::yaml(&view, out),
    }
}
