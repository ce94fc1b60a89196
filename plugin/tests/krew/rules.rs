//! krew's index rules for a plugin manifest (its validation package and
//! validate-krew-manifest), written out here since krew cannot run here.

use serde_json::Value;

/// Names Windows forbids as file names, which krew refuses as plugin names.
const WINDOWS_FORBIDDEN: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Platforms krew can run on, to look for overlapping selectors.
pub const KREW_PLATFORMS: [(&str, &str); 8] = [
    ("linux", "amd64"),
    ("linux", "arm64"),
    ("linux", "arm"),
    ("linux", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("windows", "amd64"),
    ("windows", "arm64"),
];

pub fn safe_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !WINDOWS_FORBIDDEN
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name))
}

/// A semantic version with a leading v, as krew parses spec.version.
pub fn semver_with_v(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let (core, _) = rest.split_once('+').unwrap_or((rest, ""));
    let (core, pre) = core.split_once('-').unwrap_or((core, ""));
    let nums: Vec<&str> = core.split('.').collect();
    let number = |n: &&str| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (n.len() == 1 || !n.starts_with('0'))
    };
    nums.len() == 3
        && nums.iter().all(number)
        && (pre.is_empty() || pre.split('.').all(|p| !p.is_empty()))
}

pub fn sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether a platform's selector matches a machine, as krew selects one.
pub fn selects(selector: &Value, os: &str, arch: &str) -> bool {
    let label = |k: &str| match k {
        "os" => Some(os),
        "arch" => Some(arch),
        _ => None,
    };
    let labels_match = selector["matchLabels"]
        .as_object()
        .is_none_or(|m| m.iter().all(|(k, v)| label(k) == v.as_str()));
    let exprs_match = selector["matchExpressions"].as_array().is_none_or(|es| {
        es.iter().all(|e| {
            let value = label(e["key"].as_str().unwrap_or_default());
            let values: Vec<&str> = e["values"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e["operator"].as_str().unwrap_or_default() {
                "In" => value.is_some_and(|v| values.contains(&v)),
                "NotIn" => value.is_none_or(|v| !values.contains(&v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                op => panic!("selector operator {op:?} is not one krew knows"),
            }
        })
    });
    labels_match && exprs_match
}

/// Everything krew's ValidatePlugin checks for one platform; the problems.
pub fn platform_problems(p: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let uri = p["uri"].as_str().unwrap_or_default();
    if !uri.starts_with("https://") {
        bad.push(format!("uri {uri:?} must be set, over https"));
    }
    let sha = p["sha256"].as_str().unwrap_or_default();
    if !sha256_hex(sha) {
        bad.push(format!("sha256 {sha:?} must match ^[a-f0-9]{{64}}$"));
    }
    if p["bin"].as_str().unwrap_or_default().is_empty() {
        bad.push("bin must be set".into());
    }
    match &p["files"] {
        Value::Null => {}
        Value::Array(ops) if !ops.is_empty() => {
            for op in ops {
                for key in ["from", "to"] {
                    if op[key].as_str().unwrap_or_default().is_empty() {
                        bad.push(format!("files: {key} must be set in {op}"));
                    }
                }
            }
        }
        other => bad.push(format!("files must be unset or non-empty: {other}")),
    }
    let sel = &p["selector"];
    let labels = sel["matchLabels"].as_object();
    let exprs = sel["matchExpressions"].as_array();
    if labels.is_none_or(|l| l.is_empty()) && exprs.is_none_or(|e| e.is_empty()) {
        bad.push("selector must have matchLabels or matchExpressions".into());
    }
    let keys = labels.into_iter().flat_map(|l| l.keys().cloned()).chain(
        exprs
            .into_iter()
            .flatten()
            .map(|e| e["key"].as_str().unwrap_or_default().to_string()),
    );
    for k in keys {
        if k != "os" && k != "arch" {
            bad.push(format!("selector key {k:?} is not supported (os, arch)"));
        }
    }
    bad
}

/// The names the `files` rules put at the top of the install directory.
pub fn installed_names(p: &Value) -> Vec<String> {
    p["files"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|op| {
            let from = op["from"].as_str().unwrap();
            let base = from.rsplit('/').next().unwrap();
            match op["to"].as_str().unwrap().trim_start_matches("./") {
                "." | "" => base.to_string(),
                to => to.trim_end_matches('/').to_string(),
            }
        })
        .collect()
}

#[test]
fn the_rules_refuse_what_krew_refuses() {
    assert!(safe_plugin_name("inception") && safe_plugin_name("view-secret"));
    assert!(!safe_plugin_name("in ception") && !safe_plugin_name("nul") && !safe_plugin_name(""));
    assert!(semver_with_v("v0.1.0") && semver_with_v("v1.2.3-rc.1"));
    assert!(!semver_with_v("0.1.0") && !semver_with_v("v0.1") && !semver_with_v("v01.1.0"));
    assert!(sha256_hex(&"a".repeat(64)));
    assert!(!sha256_hex(&"A".repeat(64)) && !sha256_hex("abc"));
    let both: Value = serde_json::json!({"matchLabels": {"os": "linux"}});
    assert!(selects(&both, "linux", "amd64") && selects(&both, "linux", "arm64"));
    let not_arm: Value = serde_json::json!({"matchExpressions": [
        {"key": "arch", "operator": "NotIn", "values": ["arm64"]}]});
    assert!(selects(&not_arm, "linux", "amd64") && !selects(&not_arm, "darwin", "arm64"));
    let bad = serde_json::json!({"uri": "http://x", "sha256": "0", "selector": {"matchLabels": {"cpu": "x"}}, "files": []});
    assert_eq!(
        platform_problems(&bad).len(),
        5,
        "{:?}",
        platform_problems(&bad)
    );
}
