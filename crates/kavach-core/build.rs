// `sqlx::migrate!` embeds migrations/* at compile time; a new or edited file must rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
