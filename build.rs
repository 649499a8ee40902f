//! Records the target triple so `alpi --version` can say which build this is, and for
//! static musl release builds drops the unwind tables nothing will read
//! (cross/no-eh-frame.ld; figures in docs/building.md).
fn main() {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=ALPI_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cross/no-eh-frame.ld");
    // The release profile sets `panic = "abort"` (build scripts cannot see that; keep
    // the two together): with no unwinding, .eh_frame is dead weight.
    if env("CARGO_CFG_TARGET_ENV") == "musl" && env("PROFILE") == "release" {
        let script = format!("{}/cross/no-eh-frame.ld", env("CARGO_MANIFEST_DIR"));
        println!("cargo:rustc-link-arg-bins=-T{script}");
    }
}
