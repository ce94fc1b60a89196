//! The live tree as a table: one row per cluster, more columns with
//! `-o wide`; what is not a row goes to the notes (stderr), so that stdout
//! holds the table alone.

use std::io::Write;

use anyhow::Result;
use nesting::ranges::FoundRange;

use super::{LiveCluster, LiveTree, usage};
use crate::output;

const COLUMNS: [&str; 7] = [
    "PATH",
    "NAMESPACE",
    "STATUS",
    "VERSION",
    "NODES",
    "POD CP/WORKERS",
    "AGE",
];

/// Added by `-o wide`, after the others.
const WIDE: [&str; 6] = [
    "POD CIDR",
    "SERVICE CIDR",
    "MTU",
    "REQUESTS OF PARENT",
    "MEMORY USED",
    "REACHABLE",
];

/// Writes the rows on `out`, and on `notes` why clusters are unreachable
/// and the current context's networks.
pub(super) fn table(
    view: &LiveTree,
    wide: bool,
    out: &mut impl Write,
    notes: &mut impl Write,
) -> Result<()> {
    let mut unreachable = Vec::new();
    if view.clusters.is_empty() {
        writeln!(notes, "no inception clusters in context {}", view.context)?;
    } else {
        let mut head: Vec<String> = COLUMNS.iter().map(|h| h.to_string()).collect();
        if wide {
            head.extend(WIDE.iter().map(|h| h.to_string()));
        }
        let mut t = vec![head];
        for c in &view.clusters {
            rows(c, wide, &mut t, &mut unreachable);
        }
        output::print_table(&t, out)?;
    }
    for n in &unreachable {
        writeln!(notes, "unreachable {n}")?;
    }
    let list = |f: &[FoundRange]| {
        if f.is_empty() {
            "not found".to_string()
        } else {
            f.iter()
                .map(|f| format!("{} ({})", f.cidr, f.source))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    writeln!(notes, "context {} at {}", view.context, view.server)?;
    writeln!(
        notes,
        "  service CIDR: {}",
        list(&view.parent.service_cidrs)
    )?;
    writeln!(notes, "  pod CIDR:     {}", list(&view.parent.pod_cidrs))?;
    Ok(())
}

/// `c`'s row, then its children's; why it is unreachable into `notes`.
fn rows(c: &LiveCluster, wide: bool, acc: &mut Vec<Vec<String>>, notes: &mut Vec<String>) {
    let dash = || "-".to_string();
    let reach = match c.reachable.strip_prefix("no: ") {
        Some(why) => {
            notes.push(format!("{}: {why}", c.path));
            "no".to_string()
        }
        None => c.reachable.clone(),
    };
    let mut row = vec![
        format!(
            "{}{}",
            "  ".repeat(c.depth.saturating_sub(1) as usize),
            c.path
        ),
        c.namespace.clone(),
        c.status.to_string(),
        c.version.clone().unwrap_or_else(dash),
        c.nodes.clone().unwrap_or_else(dash),
        format!("{} {}", c.control_plane, c.workers),
        c.age.clone(),
    ];
    if wide {
        row.extend([
            c.pod_cidr.clone().unwrap_or_else(dash),
            c.service_cidr.clone().unwrap_or_else(dash),
            c.mtu.map(|m| m.to_string()).unwrap_or_else(dash),
            c.usage
                .as_ref()
                .map(usage::Usage::requests)
                .unwrap_or_else(dash),
            c.usage
                .as_ref()
                .and_then(|u| u.memory_in_use.clone())
                .unwrap_or_else(dash),
            reach,
        ]);
    }
    acc.push(row);
    for ch in &c.children {
        rows(ch, wide, acc, notes);
    }
}
