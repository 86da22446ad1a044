//! Checks that hold on any register-style chip behind any adapter, simulated or real: the
//! same calls must give the same answers on the simulator and on a real kernel, which keeps
//! the simulator honest.

use embedded_hal::i2c::{Error as _, ErrorKind};
use smbus_proxy_client::{Bytes, Errno, blocking};

/// Where the suite may write and what it may expect.
pub struct Chips {
    /// A chip with 8-bit registers behind an auto-incrementing pointer.
    pub chip: u16,
    /// An address a kernel driver owns.
    pub busy: u16,
    /// An address nobody answers, and the errno the adapter reports for it.
    pub empty: u16,
    pub nack: Errno,
}

pub fn register_chip(bus: &mut blocking::Bus, c: &Chips) {
    bus.write_byte_data(c.chip, 0x10, 0xA5).unwrap();
    assert_eq!(bus.read_byte_data(c.chip, 0x10).unwrap(), 0xA5);
    bus.write_byte_data(c.chip, 0x11, 0x5A).unwrap();

    // write_byte sets the pointer, read_byte reads there and moves on.
    bus.write_byte(c.chip, 0x10).unwrap();
    assert_eq!(bus.read_byte(c.chip).unwrap(), 0xA5);
    assert_eq!(bus.read_byte(c.chip).unwrap(), 0x5A);

    // An I2C block lands in consecutive registers.
    bus.write_i2c_block_data(c.chip, 0x20, &[1, 2, 3, 4]).unwrap();
    assert_eq!(bus.read_i2c_block_data(c.chip, 0x20, 4).unwrap(), Bytes::from_static(&[1, 2, 3, 4]));
    assert_eq!(bus.read_byte_data(c.chip, 0x22).unwrap(), 3);

    bus.write_quick(c.chip).unwrap();

    // Nobody there: the adapter's errno, which means "not acknowledged".
    let err = bus.read_byte_data(c.empty, 0).unwrap_err();
    assert_eq!(err.errno(), Some(c.nack), "{err}");
    assert!(matches!(err.kind(), ErrorKind::NoAcknowledge(_)), "{err}");
    assert_eq!(bus.write_quick(c.empty).unwrap_err().errno(), Some(c.nack));

    // An address a kernel driver owns: EBUSY, unless forced.
    let err = bus.read_byte_data(c.busy, 0).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::EBUSY), "{err}");
    assert_eq!(err.kind(), ErrorKind::Other);
    bus.set_force(true);
    bus.read_byte_data(c.busy, 0).unwrap();
    bus.set_force(false);
}

/// The server names the address a driver owns among its bus's claimed ones, and only that.
pub fn claims(client: &blocking::Client, bus: u32, c: &Chips) {
    let info = client.list_buses().unwrap().into_iter().find(|b| b.number == bus).unwrap();
    assert!(info.claimed.contains(&u32::from(c.busy)), "{info:?}");
    assert!(!info.claimed.contains(&u32::from(c.chip)), "{info:?}");
    assert!(!info.claimed.contains(&u32::from(c.empty)), "{info:?}");
}
