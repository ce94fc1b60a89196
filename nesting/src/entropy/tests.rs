use super::*;
use rand::RngCore as _;

#[test]
fn labels_and_seeds_part_the_streams() {
    let a = Entropy::new([1; 32], SystemTime::UNIX_EPOCH);
    let draw = |e: &Entropy| e.rng().next_u64();
    assert_eq!(draw(&a.derive("ca")), draw(&a.derive("ca")));
    assert_ne!(draw(&a.derive("ca")), draw(&a.derive("etcd-ca")));
    let b = Entropy::new([2; 32], SystemTime::UNIX_EPOCH);
    assert_ne!(draw(&a.derive("ca")), draw(&b.derive("ca")));
    assert!(!format!("{a:?}").contains("[1, 1"), "{a:?}");
}
