//! Ed25519 sign and verify of a 300-byte message with the compiled-in backend.
//! Prints `name value unit` lines for ci/bench. Run with `cargo bench --bench identity`
//! (add `--no-default-features --features salty` for the other backend).

#[path = "common/mod.rs"]
mod common;

fn micros(rounds: usize, op: impl FnMut()) -> f64 {
    common::median(rounds, op).as_secs_f64() * 1e6
}

use std::hint::black_box;

use alpi::alp::identity::{BACKEND, Keypair};

fn main() {
    if common::listing() {
        return;
    }
    let keys = Keypair::from_seed([42; 32]);
    let message = [0x5au8; 300];
    let signature = keys.sign(&message);
    let backend = if BACKEND == "salty" { "salty" } else { "dalek" };
    let rounds = if backend == "salty" { 200 } else { 2000 };
    let sign = micros(rounds, || {
        black_box(keys.sign(black_box(&message)));
    });
    let verify = micros(rounds, || {
        assert!(keys.identity().verifies(black_box(&message), &signature));
    });
    println!("ed25519.sign.{backend} {sign:.1} us");
    println!("ed25519.verify.{backend} {verify:.1} us");
}
