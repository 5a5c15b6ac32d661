//! Hostile text through the command line: every flag and file the `pod`
//! binary takes is refused with a message naming what to fix, and nothing
//! reaches the log or the accounts.

use crate::support::*;

fn refused(env: &Env, args: &[&str], says: &str) {
    let out = env.pod().args(args).output().expect("running pod");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "pod {args:?} was accepted");
    assert!(stderr.contains(says), "pod {args:?} should say {says:?}: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_on_the_command_line_is_refused_naming_the_flag_or_field() {
    let env = Env::new().await;
    env.run_pod(&["tenants", "create", "acme"]);
    refused(&env, &["tenants", "create", "beta", "--name", "evil\u{202E}shop"], "name");
    refused(&env, &["tenants", "create", "beta", "--name", &"x".repeat(101)], "at most 100");
    refused(
        &env,
        &["tokens", "create", "--tenant", "acme", "--role", "viewer", "--name", "ring\u{7}"],
        "control character",
    );
    refused(&env, &["tokens", "create", "--tenant", "acme", "--role", "viewer", "--name", " "], "empty");

    let dir = std::env::temp_dir().join(format!("pod-hostile-{}", env.ns.prefix()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, body: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p.to_string_lossy().into_owned()
    };
    let nul = write("nul.csv", b"keyword\ncat mom\n\"bad\x00idea\"\n");
    refused(&env, &["trends", "import", &nul, "--tenant", "acme"], "row 3: field `keyword`");
    let bidi = write("bidi.json", "[{\"keyword\": \"cat mom\", \"source\": \"feed\u{202E}\"}]".as_bytes());
    refused(&env, &["trends", "import", &bidi, "--tenant", "acme"], "row 1: field `source`");
    let surrogate = write("surrogate.json", br#"[{"keyword": "\ud800"}]"#);
    refused(&env, &["trends", "import", &surrogate, "--tenant", "acme"], "JSON");
    let flood = write("flood.csv", format!("keyword\n{}\n", "🐱".repeat(30_000)).as_bytes());
    refused(&env, &["trends", "import", &flood, "--tenant", "acme"], "at most 100");
    let ok = write("ok.csv", b"keyword\ncat mom\n");
    refused(&env, &["trends", "import", &ok, "--tenant", "acme", "--name", "up\u{202E}load"], "--name");

    // Nothing reached the log or the accounts; a normal import still works.
    let js = async_nats::jetstream::new(env.client.clone());
    let last = js.get_stream(env.ns.events_stream()).await.unwrap().info().await.unwrap().state.last_sequence;
    assert_eq!(last, 0, "hostile input reached the log");
    let tenants: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants").fetch_one(&env.pool).await.unwrap();
    assert_eq!(tenants, 1);
    env.run_pod(&["trends", "import", &ok, "--tenant", "acme"]);
    env.run_pod(&["projections", "run", "trends", "--until-caught-up"]);
    let trends: i64 = sqlx::query_scalar("SELECT count(*) FROM trends").fetch_one(&env.pool).await.unwrap();
    assert_eq!(trends, 1);
    let _ = std::fs::remove_dir_all(dir);
}
