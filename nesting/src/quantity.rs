//! Kubernetes quantities as numbers and back, for what `tree` adds up:
//! CPU in millicores, memory in bytes.

/// CPU in millicores: `250m`, `2`, `0.5`; `None` if not a CPU quantity.
pub fn cpu_millis(q: &str) -> Option<u64> {
    if let Some(m) = q.strip_suffix('m') {
        return m.parse().ok();
    }
    let cores: f64 = q.parse().ok()?;
    (cores >= 0.0).then(|| (cores * 1000.0).round() as u64)
}

/// Memory in bytes: `512Mi`, `1G`, `1073741824`, `1e9`.
pub fn bytes(q: &str) -> Option<u64> {
    const UNITS: [(&str, u64); 10] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("Pi", 1 << 50),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
        ("P", 1_000_000_000_000_000),
    ];
    for (u, f) in UNITS {
        if let Some(n) = q.strip_suffix(u) {
            let n: f64 = n.parse().ok()?;
            return (n >= 0.0).then(|| (n * f as f64).round() as u64);
        }
    }
    let n: f64 = q.parse().ok()?;
    (n >= 0.0).then(|| n.round() as u64)
}

/// Millicores as people write them: `250m`, `2`, `1.5`.
pub fn show_cpu(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else if millis < 1000 {
        format!("{millis}m")
    } else {
        format!("{:.1}", millis as f64 / 1000.0)
    }
}

/// Bytes in the largest binary unit that keeps one decimal: `512Mi`, `1.5Gi`.
pub fn show_bytes(b: u64) -> String {
    let units = [
        ("Ti", 1u64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (u, f) in units {
        if b >= f {
            let v = b as f64 / f as f64;
            return if (v - v.round()).abs() < 0.05 {
                format!("{}{u}", v.round() as u64)
            } else {
                format!("{v:.1}{u}")
            };
        }
    }
    b.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu() {
        assert_eq!(cpu_millis("250m"), Some(250));
        assert_eq!(cpu_millis("2"), Some(2000));
        assert_eq!(cpu_millis("0.5"), Some(500));
        assert_eq!(cpu_millis("x"), None);
        assert_eq!(show_cpu(250), "250m");
        assert_eq!(show_cpu(2000), "2");
        assert_eq!(show_cpu(1500), "1.5");
    }

    #[test]
    fn memory() {
        assert_eq!(bytes("512Mi"), Some(512 << 20));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("1073741824"), Some(1 << 30));
        assert_eq!(bytes("24542920Ki"), Some(24542920 << 10));
        assert_eq!(bytes("lots"), None);
        assert_eq!(show_bytes(512 << 20), "512Mi");
        assert_eq!(show_bytes(3 << 29), "1.5Gi");
        assert_eq!(show_bytes(100), "100");
    }
}
