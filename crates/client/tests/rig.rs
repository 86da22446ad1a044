//! The Linux backend against a real kernel: run by `rig/test.sh`, which boots a QEMU guest
//! with real I2C adapters, starts `smbus-proxy serve` in it, and sets SMBUS_PROXY_RIG to the
//! forwarded URL. Without the rig these tests are ignored.
//!
//! Guest buses: "SMBus I801 adapter" (SMBus only, SPD EEPROMs at 0x50–0x57), "SMBus stub
//! driver" (i2c-stub chips at 0x1c and 0x50, at24 bound to 0x50), "radeonfb dvi" (bit-banged
//! plain I2C, EDID EEPROM at 0x50).

mod suite;

use embedded_hal::i2c::I2c;
use smbus_proxy_client::{BusOptions, Bytes, Errno, Msg, blocking, funcs};
use std::time::{Duration, Instant};

fn client() -> blocking::Client {
    let url = std::env::var("SMBUS_PROXY_RIG").expect("run by rig/test.sh, which sets SMBUS_PROXY_RIG");
    // The guest's server may still be starting; QEMU accepts the connection for it meanwhile,
    // so only an answer proves it is there.
    let start = Instant::now();
    loop {
        match blocking::Client::connect(url.clone()).and_then(|c| c.list_buses().map(|_| c)) {
            Ok(c) => return c,
            Err(e) if start.elapsed() < Duration::from_secs(60) => {
                eprintln!("waiting for the guest's server: {e}");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fn bus(client: &blocking::Client, name: &str) -> blocking::Bus {
    let buses = client.list_buses().unwrap();
    let info =
        buses.iter().find(|b| b.name.starts_with(name)).unwrap_or_else(|| panic!("no {name:?} in {buses:?}"));
    client.bus(info.number).unwrap()
}

#[test]
#[ignore = "needs the QEMU rig: rig/test.sh"]
fn i801_smbus_operations_on_an_spd_eeprom() {
    let client = client();
    let mut bus = bus(&client, "SMBus I801");
    assert_eq!(bus.funcs() & funcs::I2C, 0, "the i801 has no plain I2C");
    let ee = 0x51;
    bus.write_byte_data(ee, 0x10, 0xA5).unwrap();
    assert_eq!(bus.read_byte_data(ee, 0x10).unwrap(), 0xA5);
    bus.write_byte(ee, 0x10).unwrap();
    assert_eq!(bus.read_byte(ee).unwrap(), 0xA5);
    bus.write_word_data(ee, 0x20, 0xBEEF).unwrap();
    assert_eq!(bus.read_word_data(ee, 0x20).unwrap(), 0xBEEF);
    assert_eq!(bus.read_byte_data(ee, 0x20).unwrap(), 0xEF, "words are little-endian on the wire");
    bus.write_i2c_block_data(ee, 0x30, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    // QEMU's ICH9 SMBus answers the last byte of an I2C block read shorter than 32 bytes with
    // 0 (i2c-tools' i2cdump reads 32 and never sees it), so read 32 as i2cdump does.
    let block = bus.read_i2c_block_data(ee, 0x30, 32).unwrap();
    assert_eq!(&block[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(bus.read_byte_data(ee, 0x37).unwrap(), 8);
    // Nobody at 0x33: the i801 reports ENXIO.
    assert_eq!(bus.read_byte_data(0x33, 0).unwrap_err().errno(), Some(Errno::ENXIO));

    // A session with its own adapter timeout and retries (I2C_TIMEOUT, I2C_RETRIES).
    let number = bus.number();
    let options =
        BusOptions { timeout: Some(Duration::from_millis(250)), retries: Some(3), ..BusOptions::default() };
    let mut tuned = client.bus_with(number, options).unwrap();
    assert_eq!(tuned.read_byte_data(ee, 0x10).unwrap(), 0xA5);
}

/// The i801 has no I2C_RDWR, but a write-then-read has an exact SMBus equivalent, so an
/// embedded-hal driver's `write_read` works there; a transfer with none is refused clearly.
#[test]
#[ignore = "needs the QEMU rig: rig/test.sh"]
fn smbus_fallback_on_the_i801() {
    let client = client();
    let mut bus = bus(&client, "SMBus I801");
    let ee = 0x52u8;
    bus.write(ee, &[0x40, 0xDE, 0xAD, 0xBE, 0xEF]).unwrap(); // I2C block write
    bus.write(ee, &[0x50, 0x11, 0x22]).unwrap(); // word write
    bus.write(ee, &[0x52, 0x33]).unwrap(); // byte data write
    let mut one = [0u8];
    bus.write_read(ee, &[0x41], &mut one).unwrap(); // byte data read
    assert_eq!(one, [0xAD]);
    let mut two = [0u8; 2];
    bus.write_read(ee, &[0x50], &mut two).unwrap(); // word read
    assert_eq!(two, [0x11, 0x22]);
    let mut block = [0u8; 32];
    bus.write_read(ee, &[0x40], &mut block).unwrap(); // I2C block read
    assert_eq!(block[..4], [0xDE, 0xAD, 0xBE, 0xEF]);
    assert_eq!(block[16..19], [0x11, 0x22, 0x33]);
    let err = bus.i2c_rdwr(vec![Msg::read(ee.into(), 2)]).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::EOPNOTSUPP), "{err}");
}

#[test]
#[ignore = "needs the QEMU rig: rig/test.sh"]
fn i2c_stub_quick_byte_word_block() {
    let client = client();
    let mut bus = bus(&client, "SMBus stub driver");
    let chip = 0x1c;
    bus.write_quick(chip).unwrap();
    bus.write_byte_data(chip, 0x01, 0x42).unwrap();
    assert_eq!(bus.read_byte_data(chip, 0x01).unwrap(), 0x42);
    bus.write_word_data(chip, 0x02, 0x1234).unwrap();
    assert_eq!(bus.read_word_data(chip, 0x02).unwrap(), 0x1234);
    bus.write_block_data(chip, 0x03, &[9, 8, 7]).unwrap();
    assert_eq!(bus.read_block_data(chip, 0x03).unwrap(), Bytes::from_static(&[9, 8, 7]));
}

/// The same suite as `shared_suite_on_the_simulator` in tests/client.rs.
#[test]
#[ignore = "needs the QEMU rig: rig/test.sh"]
fn shared_suite_on_i2c_stub() {
    let client = client();
    let mut bus = bus(&client, "SMBus stub driver");
    // i2c-stub has no wire: for an address without a chip it answers ENODEV, where the
    // simulator, like real adapters, says ENXIO.
    let chips = suite::Chips { chip: 0x1c, busy: 0x50, empty: 0x33, nack: Errno::ENODEV };
    suite::register_chip(&mut bus, &chips);
    suite::claims(&client, bus.number(), &chips);
}

#[test]
#[ignore = "needs the QEMU rig: rig/test.sh"]
fn i2c_rdwr_write_then_read_on_a_plain_i2c_bus() {
    let client = client();
    let mut bus = bus(&client, "radeonfb dvi");
    assert_ne!(bus.funcs() & funcs::I2C, 0);
    // The EDID EEPROM: set the offset, then read the 8-byte header with a repeated start.
    let reads = bus.i2c_rdwr(vec![Msg::write(0x50, vec![0x00]), Msg::read(0x50, 8)]).unwrap();
    assert_eq!(reads, [Bytes::from_static(&[0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00])]);
    let mut header = [0u8; 8];
    bus.write_read(0x50u8, &[0x00], &mut header).unwrap();
    assert_eq!(header, [0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00]);
    let err = bus.i2c_rdwr(vec![Msg::read(0x33, 1)]).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::ENXIO), "{err}");

    // A counted read (I2C_M_RECV_LEN), which algo-bit supports: EDID byte 0x12, the version,
    // is 1, so the device "sends" a count of 1 and then byte 0x13, the revision.
    let plain = bus.i2c_rdwr(vec![Msg::write(0x50, vec![0x12]), Msg::read(0x50, 2)]).unwrap();
    assert_eq!(plain[0][0], 0x01, "EDID version 1");
    let counted = bus.i2c_rdwr(vec![Msg::write(0x50, vec![0x12]), Msg::read_counted(0x50)]).unwrap();
    assert_eq!(counted, plain, "the count byte and the one byte it announces");
}
