//! The OpenAPI document against the API that serves it: schemathesis
//! (PyPI, installed by `scripts/services.sh`) generates requests from the
//! document, with a tenant's data in place, and checks that no answer is a
//! 5xx and that every status and content type is one the document declares.
//! Bounded in examples and time.

use std::path::PathBuf;
use std::process::Command;

use crate::support::Api;

fn schemathesis() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tools = std::env::var_os("POD_TOOLS_DIR").map(PathBuf::from).unwrap_or(root.join(".tools"));
    let bin = tools.join("venv/bin/schemathesis");
    assert!(bin.exists(), "this test needs schemathesis at {}: run `scripts/services.sh` to install it", bin.display());
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_is_declared_by_the_document_and_none_is_a_server_error() {
    let api = Api::new().await;
    let (base, server) = api.serve().await;
    let bin = schemathesis();
    let token = api.acme_editor.clone();
    let url = format!("{base}/api/v1/openapi.json");
    // The seeded tenant's ids, so the routes that take one reach their logic.
    let s = &api.seeded;
    let ids = [
        ("^/api/v1/trends/\\{id\\}", s.acme_trends[0].to_string()),
        ("^/api/v1/ideas/\\{id\\}", s.acme_idea.to_string()),
        ("^/api/v1/designs/\\{id\\}", s.acme_design.to_string()),
        ("^/api/v1/listings/\\{id\\}", s.acme_listing.to_string()),
        ("^/api/v1/runs/\\{id\\}", s.acme_run.clone()),
        ("^/api/v1/dead-letters/\\{seq\\}", s.acme_dead_letter.to_string()),
    ];
    let config: String = ids
        .iter()
        .map(|(path, id)| {
            let key = if path.contains("seq") { "path.seq" } else { "path.id" };
            format!("[[operations]]\ninclude-path-regex = '{path}'\nparameters = {{ \"{key}\" = \"{id}\" }}\n\n")
        })
        .collect();
    let config_file = std::env::temp_dir().join(format!("schemathesis-{}.toml", api.ns.prefix()));
    std::fs::write(&config_file, config).unwrap();
    let config_path = config_file.clone();
    // schemathesis keeps a cache in its working directory: a scratch one.
    let scratch = std::env::temp_dir().join(format!("schemathesis-{}", api.ns.prefix()));
    std::fs::create_dir_all(&scratch).unwrap();
    let workdir = scratch.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .current_dir(&workdir)
            .arg("--config-file")
            .arg(&config_path)
            .args(["run", &url, "--url", &base])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance"])
            // The feeds never end; the docs page is HTML by design.
            .args(["--exclude-path-regex", "^/api/v1/feed"])
            .args(["--phases", "examples,coverage,fuzzing", "--max-examples", "10", "--max-time", "60"])
            // One worker: Python 3.11's parser is not safe across threads
            // (hypothesis describing lambdas in two at once fails the run).
            .args(["--workers", "1", "--seed", "1", "--suppress-health-check", "all"])
            .env("SCHEMATHESIS_HOOKS", "")
            .env("NO_COLOR", "1")
            .output()
            .expect("running schemathesis")
    })
    .await
    .unwrap();
    server.abort();
    let _ = std::fs::remove_file(config_file);
    let _ = std::fs::remove_dir_all(scratch);
    let report = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found answers the document does not declare:\n{report}");
    assert!(report.contains("passed"), "schemathesis ran nothing:\n{report}");
    // What was covered, in the test's output (shown with --nocapture or on failure).
    println!("{report}");
}
