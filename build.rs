//! Records the target triple so `alpi --version` can say which build this is.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=ALPI_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
