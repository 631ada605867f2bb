//! The Kubernetes recipe (`docs/kubernetes/*.yaml`, explained in
//! `docs/kubernetes.md`) is checked, not just written: every manifest
//! validates against Kubernetes' own schemas (`kubernetes-validate
//! --strict`, installed by `.ci/run`), the Job has the settings the recipe
//! promises, and the profile in its ConfigMap is a memsoak profile that
//! `memsoak run` accepts as it stands.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

fn manifests() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the recipe has manifests");
    files
}

fn documents(path: &Path) -> Vec<serde_norway::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|d| {
            serde_norway::Value::deserialize(d)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

#[test]
fn the_manifests_validate_against_the_kubernetes_schemas() {
    for path in manifests() {
        let o = std::process::Command::new("kubernetes-validate")
            .args(["--strict", "--quiet"])
            .arg(&path)
            .output()
            .expect("kubernetes-validate is installed (.ci/run installs it from PyPI)");
        assert!(
            o.status.success(),
            "{}: {}{}",
            path.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn the_job_runs_once_within_a_deadline_and_its_profile_is_accepted() {
    let mut jobs = 0;
    for path in manifests() {
        let docs = documents(&path);
        let kind = |d: &serde_norway::Value| d["kind"].as_str().unwrap_or("").to_string();
        for job in docs.iter().filter(|d| kind(d) == "Job") {
            jobs += 1;
            let spec = &job["spec"];
            assert_eq!(spec["backoffLimit"].as_u64(), Some(0), "one attempt");
            assert_eq!(
                spec["template"]["spec"]["restartPolicy"].as_str(),
                Some("Never")
            );
            let deadline = spec["activeDeadlineSeconds"].as_u64().expect("a deadline");
            let container = &spec["template"]["spec"]["containers"][0];
            let args: Vec<&str> = container["args"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert_eq!(args[0], "run", "{args:?}");
            // The profile the Job runs comes from a ConfigMap of the file.
            let mount = container["volumeMounts"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|m| args[1].starts_with(m["mountPath"].as_str().unwrap()))
                .expect("the profile's folder is mounted");
            let volume = spec["template"]["spec"]["volumes"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|v| v["name"] == mount["name"])
                .unwrap();
            let map_name = volume["configMap"]["name"]
                .as_str()
                .expect("a ConfigMap volume");
            let map = docs
                .iter()
                .find(|d| {
                    kind(d) == "ConfigMap" && d["metadata"]["name"].as_str() == Some(map_name)
                })
                .expect("the ConfigMap is in the same file");
            let key = Path::new(args[1]).file_name().unwrap().to_str().unwrap();
            let text = map["data"][key]
                .as_str()
                .expect("the profile is in the ConfigMap");

            // Accepted by memsoak as it stands (with the tokens the Job's
            // Secret provides set).
            let tmp = tempfile::tempdir().unwrap();
            let file = tmp.path().join(key);
            std::fs::write(&file, text).unwrap();
            std::env::set_var("PROMETHEUS_TOKEN", "test-token");
            std::env::set_var("AGENT_API_TOKEN", "test-token");
            let cli = memsoak::cli::Cli::try_parse_from(["memsoak", "run", file.to_str().unwrap()])
                .unwrap();
            let memsoak::cli::Command::Run(run) = cli.command else {
                unreachable!()
            };
            let config = memsoak::config::RunConfig::from_args(&run)
                .unwrap_or_else(|e| panic!("{}: the ConfigMap's profile: {e}", path.display()));
            assert!(
                matches!(config.source, memsoak::config::SourceSpec::Prometheus(_)),
                "the pods are judged through Prometheus"
            );
            assert!(matches!(config.target, memsoak::config::TargetSpec::None));
            assert!(
                !config.workloads.is_empty(),
                "load is driven at the Service"
            );
            assert!(
                config.duration.as_secs() + 1800 <= deadline,
                "the deadline ({deadline}s) leaves room beyond the run ({}s)",
                config.duration.as_secs()
            );
            assert!(
                config.out_dir.starts_with("/results"),
                "the run folder is on the kept volume"
            );
        }
    }
    assert!(jobs > 0, "the recipe has a Job");
}
