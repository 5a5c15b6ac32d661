//! What cannot run here (Docker, Kubernetes) is checked offline: every
//! manifest parses, and every `pod` command line in it is one the binary
//! accepts — renaming a subcommand breaks this test, not a rollout.

use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(yaml_files(&p));
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
    out
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec().map(|v| v.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

/// `pod ARGS --help` must succeed: the subcommand and its arguments exist.
fn assert_pod_accepts(args: &[String], origin: &str) {
    assert!(!args.is_empty(), "{origin}: empty pod command");
    let out = Command::new(env!("CARGO_BIN_EXE_pod")).args(args).arg("--help").output().unwrap();
    assert!(
        out.status.success(),
        "{origin}: `pod {}` is not a pod command: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn deploy_files_are_valid() {
    let files = yaml_files(&deploy_dir());
    assert!(files.len() >= 4, "expected compose and k8s manifests, found {files:?}");
    let mut commands = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let docs =
            YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", f.display()));
        for doc in &docs {
            // Kubernetes workloads: every container running our image.
            let spec = &doc["spec"]["template"]["spec"];
            for key in ["containers", "initContainers"] {
                for c in spec[key].as_vec().into_iter().flatten() {
                    if c["image"].as_str().is_some_and(|i| i.contains("pod-automator/pod")) {
                        assert_pod_accepts(&strings(&c["args"]), &f.display().to_string());
                        commands += 1;
                    }
                }
            }
            // Compose services built from our Dockerfile.
            if let Some(services) = doc["services"].as_hash() {
                for (name, svc) in services {
                    if !svc["build"].is_badvalue() {
                        let origin = format!("{} service {:?}", f.display(), name.as_str());
                        assert_pod_accepts(&strings(&svc["command"]), &origin);
                        commands += 1;
                    }
                }
            }
        }
    }
    assert!(commands >= 6, "found only {commands} pod commands in deploy/");
    let dockerfile = std::fs::read_to_string(deploy_dir().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("COPY nats /etc/pod/nats") && dockerfile.contains("POD__NATS_DIR=/etc/pod/nats"));
}
