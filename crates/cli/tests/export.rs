//! `smbus-proxy export-mock`: the committed expectations the client's `mock_export` test runs
//! are exactly what the command makes of the committed recording, and mistakes are named.

use std::path::Path;
use std::process::Command;

fn export(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_smbus-proxy")).arg("export-mock").args(args).output().unwrap()
}

#[test]
fn the_committed_mock_is_the_export_of_the_committed_trace() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../client/tests/fixtures");
    let out = export(&[fixtures.join("bme280.trace").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let committed = std::fs::read_to_string(fixtures.join("bme280_mock.rs")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), committed);
    // Filtered to the device it has, the same; to one it does not have, nothing to export.
    let trace = fixtures.join("bme280.trace");
    assert_eq!(export(&[trace.to_str().unwrap(), "-d", "0x76"]).stdout, committed.as_bytes());
    let none = export(&[trace.to_str().unwrap(), "-d", "0x77"]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no operations on bus 1 to the devices given"));
}

#[test]
fn what_the_mock_cannot_take_is_named_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("block.trace");
    std::fs::write(
        &trace,
        "# smbus-proxy trace 1\n\
         2026-12-02T03:31:18.765889Z i2c-1 read_byte_data 0x48 reg=0x00 -> 0x19 (35 us) - s\n\
         2026-12-02T03:31:18.765889Z i2c-1 read_block_data 0x48 reg=0x00 -> [01] (35 us) - s\n",
    )
    .unwrap();
    let out = export(&[trace.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("block.trace line 3: `read_block_data 0x48 reg=0x00`: embedded-hal has no read"),
        "{stderr}"
    );
    let bad = export(&["-d", "0x80", trace.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("0x80 is not a 7-bit address (0x00–0x7F)"));
}
