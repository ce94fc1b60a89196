//! Time to plan and render a large tree, PKI included.
//! Run: cargo bench -p nesting --bench plan

use std::time::{Duration, Instant};

use nesting::{Entropy, Plan, PlanRequest, TreeSpec};

fn plan_and_render(depth: u32, width: u32) -> (usize, usize, Duration) {
    let start = Instant::now();
    let plan = Plan::new(&PlanRequest::new(
        TreeSpec {
            name: "bench".into(),
            depth,
            width,
            workers: 1,
        },
        Entropy::from_system(),
    ))
    .unwrap();
    let mut objects = 0;
    for c in &plan.clusters {
        for m in plan.manifests(c).unwrap() {
            // Render as the dry run does.
            objects += 1;
            std::hint::black_box(serde_saphyr::to_string(&m.to_value()).unwrap());
        }
    }
    (plan.clusters.len(), objects, start.elapsed())
}

fn main() {
    // Warm up once, then take the median of a few runs.
    plan_and_render(2, 2);
    for (depth, width) in [(3, 9), (5, 3)] {
        let mut runs: Vec<(usize, usize, Duration)> =
            (0..5).map(|_| plan_and_render(depth, width)).collect();
        runs.sort_by_key(|r| r.2);
        let (clusters, objects, t) = runs[runs.len() / 2];
        println!(
            "plan+render depth={depth} width={width}: {clusters} clusters, {objects} objects, median {:.1} ms ({:.2} ms per cluster)",
            t.as_secs_f64() * 1e3,
            t.as_secs_f64() * 1e3 / clusters as f64
        );
    }
}
