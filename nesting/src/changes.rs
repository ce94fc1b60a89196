//! What would change in an object: the fields where two versions of it
//! differ, named by their path, for messages that say what differs.

use serde_json::Value;

/// At most this many differences are named; the rest are counted.
const SHOWN: usize = 6;

/// The fields where `now` and `next` differ, as `path: now → next` (scalars)
/// or `path differs`; fields only one side has count too. Paths are as in
/// kubectl's JSONPath: `spec.containers[0].image`.
pub fn differences(now: &Value, next: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(now, next, String::new(), &mut out);
    if out.len() > SHOWN {
        let more = out.len() - SHOWN;
        out.truncate(SHOWN);
        out.push(format!("and {more} more"));
    }
    out
}

fn walk(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    p,
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                walk(u, v, format!("{path}[{i}]"), out);
            }
        }
        (u, v) if !u.is_object() && !u.is_array() && !v.is_object() && !v.is_array() => {
            out.push(format!("{path}: {} → {}", short(u), short(v)));
        }
        _ => out.push(format!("{path} differs")),
    }
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::Null => "(none)".to_string(),
        other => other.to_string(),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_each_changed_field_by_its_path() {
        let now = json!({"spec": {"containers": [{"image": "a:1", "name": "node"}],
            "volumes": [{"name": "images", "hostPath": {"path": "/srv/a"}}]}});
        let next = json!({"spec": {"containers": [{"image": "a:2", "name": "node"}],
            "volumes": [{"name": "images", "hostPath": {"path": "/srv/b"}}]}});
        assert_eq!(
            differences(&now, &next),
            [
                "spec.containers[0].image: \"a:1\" → \"a:2\"",
                "spec.volumes[0].hostPath.path: \"/srv/a\" → \"/srv/b\""
            ]
        );
        assert!(differences(&now, &now).is_empty());
    }

    #[test]
    fn added_removed_and_reshaped_fields_count() {
        let now = json!({"spec": {"volumes": [{"name": "a"}], "dns": "x"}});
        let next = json!({"spec": {"volumes": [{"name": "a"}, {"name": "b"}], "host": true}});
        assert_eq!(
            differences(&now, &next),
            [
                "spec.dns: \"x\" → (none)",
                "spec.host: (none) → true",
                "spec.volumes differs"
            ]
        );
    }

    #[test]
    fn long_lists_are_cut() {
        let now = json!({"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1, "g": 1, "h": 1});
        let next = json!({"a": 2, "b": 2, "c": 2, "d": 2, "e": 2, "f": 2, "g": 2, "h": 2});
        let d = differences(&now, &next);
        assert_eq!(d.len(), SHOWN + 1);
        assert_eq!(d.last().unwrap(), "and 2 more");
    }
}
