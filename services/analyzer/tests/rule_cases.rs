//! `loginwatch rules test` on the shipped rules: every rule's recorded input produces exactly
//! its expected detections (and nothing where the expected file is empty).

use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_passes_its_recorded_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let report = loginwatch_analyzer::batch::run_tests(&dir).await.unwrap();
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert!(
        report.cases.len() >= 10,
        "expected the recorded cases of all ten rules:\n{report}"
    );
    let negatives = report.cases.iter().filter(|c| c.detections == 0).count();
    assert!(
        negatives >= 8,
        "negative cases must be part of the suite:\n{report}"
    );
}
