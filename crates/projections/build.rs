// `sqlx::migrate!` embeds the migrations at compile time; rebuild when one
// is added or changed, or a binary would carry a stale list.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
