use std::process::Command;

/// `pod screen` answers with the verdict in its exit code; marks imported
/// with `pod trademarks import` count from then on, in their classes.
#[test]
fn a_seller_can_check_a_phrase_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("pod-screen-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("uspto.tsv");
    let pod = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pod"))
            .args(args)
            .env("POD__WORKERS__SCREENING__TRADEMARKS_LIST", &list)
            .env("POD__LOG_FORMAT", "pretty")
            .output()
            .unwrap()
    };
    let code = |args: &[&str]| pod(args).status.code();
    assert_eq!(code(&["screen", "Proud Cat Mom"]), Some(0));
    assert_eq!(code(&["screen", "Pokemn Trainer Dad"]), Some(1));
    let red = pod(&["screen", "Dіsnеy Princess Mom", "--json"]); // Cyrillic і and е
    assert_eq!(red.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&red.stdout).unwrap();
    assert_eq!(json["verdict"], "red");
    assert_eq!(json["hits"][0]["term"], "Disney");

    // A live USPTO word mark in class 25, imported.
    let xml = dir.join("tm.xml");
    std::fs::write(
        &xml,
        r#"<trademark-applications-daily><case-file><serial-number>97000001</serial-number>
<case-file-header><status-code>700</status-code><mark-identification>MEOW MAMA</mark-identification>
<mark-drawing-code>4000</mark-drawing-code></case-file-header><classifications><classification>
<international-code>025</international-code></classification></classifications></case-file></trademark-applications-daily>"#,
    )
    .unwrap();
    assert_eq!(code(&["screen", "Meow Mama Club", "--class", "25"]), Some(0));
    let import = pod(&["trademarks", "import", xml.to_str().unwrap()]);
    assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));
    assert!(String::from_utf8_lossy(&import.stdout).contains("1 live word marks kept"));
    assert_eq!(code(&["screen", "Meow Mama Club", "--class", "25"]), Some(2));
    assert_eq!(code(&["screen", "Meow Mama Club", "--class", "21"]), Some(0));

    // Bad input names what is wrong.
    let bad = pod(&["screen", "x", "--class", "shirts"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--class"), "{}", String::from_utf8_lossy(&bad.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}
