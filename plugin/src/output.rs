//! What goes to stdout.

use std::io::Write;

use anyhow::Result;
use nesting::Plan;
use nesting::plan::ClusterView;
use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::TreeFormat;

pub fn json<T: Serialize>(value: &T, out: &mut impl Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

pub fn yaml<T: Serialize>(value: &T, out: &mut impl Write) -> Result<()> {
    out.write_all(serde_saphyr::to_string(value)?.as_bytes())?;
    Ok(())
}

fn objects(plan: &Plan, i: usize, show_secrets: bool) -> Result<Vec<Value>> {
    Ok(plan
        .manifests(&plan.clusters[i])?
        .iter()
        .map(|m| {
            if show_secrets {
                m.to_value()
            } else {
                m.redacted().to_value()
            }
        })
        .map(strip_nulls)
        .collect())
}

/// Drops `null` fields and empty creationTimestamp-style leftovers.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        v => v,
    }
}

fn where_applied(plan: &Plan, i: usize) -> String {
    match plan.clusters[i].parent {
        None => "the current cluster".to_string(),
        Some(p) => format!("cluster {}", plan.clusters[p].path),
    }
}

/// Every object, level by level, one YAML document each, with comments
/// naming the level and the cluster.
pub fn plan_yaml(plan: &Plan, show_secrets: bool, out: &mut impl Write) -> Result<()> {
    writeln!(
        out,
        "# kubectl-inception plan: {} clusters, Kubernetes {}, image {}",
        plan.clusters.len(),
        plan.version,
        plan.image
    )?;
    if !show_secrets {
        writeln!(
            out,
            "# private keys and tokens are redacted: add --show-secrets to print them"
        )?;
    }
    for depth in 1..=plan.depth() {
        for i in plan.level(depth) {
            let c = &plan.clusters[i];
            writeln!(
                out,
                "# level {depth}: cluster {} (namespace {}), applied in {}",
                c.path,
                c.namespace,
                where_applied(plan, i)
            )?;
            for o in objects(plan, i, show_secrets)? {
                writeln!(out, "---")?;
                out.write_all(serde_saphyr::to_string(&o)?.as_bytes())?;
            }
        }
    }
    Ok(())
}

/// One `List` per level, each item labelled with its cluster path.
pub fn plan_json(plan: &Plan, show_secrets: bool, out: &mut impl Write) -> Result<()> {
    for depth in 1..=plan.depth() {
        let mut items = Vec::new();
        for i in plan.level(depth) {
            items.extend(objects(plan, i, show_secrets)?);
        }
        json(
            &json!({ "apiVersion": "v1", "kind": "List", "metadata": {}, "items": items }),
            out,
        )?;
    }
    Ok(())
}

pub fn tree_table(view: &[ClusterView], out: &mut impl Write) -> Result<()> {
    fn rows(v: &ClusterView, acc: &mut Vec<[String; 7]>) {
        acc.push([
            v.path.clone(),
            v.depth.to_string(),
            v.namespace.clone(),
            v.networks.pod_cidr.to_string(),
            v.networks.service_cidr.to_string(),
            v.networks.kubernetes_service_ip.to_string(),
            v.networks.dns_ip.to_string(),
        ]);
        for c in &v.children {
            rows(c, acc);
        }
    }
    let mut table = vec![
        [
            "PATH",
            "DEPTH",
            "NAMESPACE",
            "POD CIDR",
            "SERVICE CIDR",
            "KUBERNETES IP",
            "DNS IP",
        ]
        .map(String::from),
    ];
    for v in view {
        rows(v, &mut table);
    }
    print_table(&table, out)
}

pub fn print_table<R: AsRef<[String]>>(rows: &[R], out: &mut impl Write) -> Result<()> {
    let n = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let mut widths = vec![0usize; n];
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r.as_ref()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for r in rows {
        let mut line = String::new();
        for (i, (w, cell)) in widths.iter().zip(r.as_ref()).enumerate() {
            if i + 1 == n {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = *w));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `-o wide` is `tree`'s alone: `command` refuses it before doing anything.
pub fn refuse_wide(format: TreeFormat, command: &str) -> Result<()> {
    if format == TreeFormat::Wide {
        anyhow::bail!("-o wide is for tree: {command} prints -o table, yaml or json");
    }
    Ok(())
}
