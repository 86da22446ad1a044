//! Compiles `proto/` with protox (a Rust protobuf compiler), so building needs no system `protoc`.
//! The encoded descriptor set is kept for the server's reflection service.

use prost::Message;
use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [root.join("smbus/v1/smbus.proto"), root.join("legacy/smbus_rcp.proto")];
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let fds = protox::compile(&files, [&root])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().bytes(".").emit_rerun_if_changed(false).compile_fds(fds)?;
    Ok(())
}
