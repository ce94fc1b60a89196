use super::*;

#[test]
fn parent_apiservers_file_is_sorted_unique_lines() {
    assert_eq!(parent_apiservers_file(&[]), None);
    let addrs: Vec<SocketAddr> = ["10.96.0.1:443", "[fd00::1]:443", "10.96.0.1:443"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(
        parent_apiservers_file(&addrs).as_deref(),
        Some("10.96.0.1 443\nfd00::1 443\n")
    );
}
