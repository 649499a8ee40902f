//! Records the target triple so `alpi --version` can say which build this is, and for
//! static release builds drops the unwind tables nothing will read
//! (cross/no-eh-frame.ld for musl, cross/no-arm-exidx.ld for static ARM; figures in
//! docs/building.md).
fn main() {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=ALPI_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cross/no-eh-frame.ld");
    println!("cargo:rerun-if-changed=cross/no-arm-exidx.ld");
    // The release profile sets `panic = "abort"` (build scripts cannot see that; keep
    // the two together): with no unwinding, .eh_frame is dead weight.
    // ARM unwinds with .ARM.exidx instead, and static glibc's start-up needs its
    // (empty) .eh_frame, so static ARM builds get their own script (armv7 gnueabihf).
    let script = match (env("CARGO_CFG_TARGET_ENV").as_str(), env("CARGO_CFG_TARGET_ARCH").as_str()) {
        _ if env("PROFILE") != "release" => None,
        ("musl", _) => Some("no-eh-frame.ld"),
        (_, "arm") if env("CARGO_CFG_TARGET_FEATURE").split(',').any(|f| f == "crt-static") => {
            Some("no-arm-exidx.ld")
        }
        _ => None,
    };
    if let Some(script) = script {
        println!("cargo:rustc-link-arg-bins=-T{}/cross/{script}", env("CARGO_MANIFEST_DIR"));
    }
    // musl release builds link with rust-lld, which folds functions whose machine code
    // is identical (monomorphised copies): ~17 KB on aarch64. Rust promises nothing
    // about function-pointer identity, so folding is safe.
    if env("PROFILE") == "release" && env("CARGO_CFG_TARGET_ENV") == "musl" {
        println!("cargo:rustc-link-arg-bins=--icf=all");
    }
}
