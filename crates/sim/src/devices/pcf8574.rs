//! A PCF8574: an 8-bit quasi-bidirectional port with no registers at all, and its /INT output
//! (NXP PCF8574 datasheet, §8.1 and §8.3).
//!
//! Each pin has a weak pull-up when its latch bit is 1 and a strong pull-down when it is 0,
//! so a pin reads low if either the chip or the outside world pulls it low: the port reads
//! `latch & inputs`, where `inputs` is what the external circuit drives (1 = left floating
//! or driven high). A pin wired to a GPIO line reads that line's level.
//!
//! /INT is open drain: the chip pulls its line low while the port differs from what it was
//! when last read or written ("any rising or falling edge of the port inputs"), and lets go
//! when the port is read or written, or when the inputs return to that state. Reading or
//! writing another device does not touch it.

use super::Device;
use crate::lines::SimLine;
use smbus_proxy_wire::Errno;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

pub(crate) struct Pcf8574(Arc<Chip>);

struct Chip {
    state: Mutex<State>,
    /// The line its /INT pulls low.
    int: Option<Arc<SimLine>>,
    /// The lines that drive its pins.
    pins: Vec<(u8, Arc<SimLine>)>,
}

struct State {
    latch: u8,
    /// What drives the pins no line is wired to.
    inputs: u8,
    /// The port as last read or written: what an input change is measured against.
    seen: u8,
}

impl Pcf8574 {
    #[cfg(test)]
    pub(crate) fn new(inputs: u8) -> Self {
        Self::wired(inputs, None, Vec::new())
    }

    /// A chip whose /INT pulls `int` low, and whose pins `pins` drive.
    pub(crate) fn wired(inputs: u8, int: Option<Arc<SimLine>>, pins: Vec<(u8, Arc<SimLine>)>) -> Self {
        // Power-on state: every pin high, i.e. usable as an input.
        let chip = Arc::new(Chip { state: Mutex::new(State { latch: 0xFF, inputs, seen: 0 }), int, pins });
        {
            let mut state = chip.state();
            state.seen = chip.port(&state);
        }
        for (_, line) in &chip.pins {
            let chip: Weak<Chip> = Arc::downgrade(&chip);
            line.watch(Box::new(move |_| {
                if let Some(chip) = chip.upgrade() {
                    chip.inputs_changed();
                }
            }));
        }
        Pcf8574(chip)
    }
}

impl Chip {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the port reads now.
    fn port(&self, state: &State) -> u8 {
        let inputs = self.pins.iter().fold(state.inputs, |inputs, (pin, line)| {
            let bit = 1 << pin;
            if line.level() { inputs | bit } else { inputs & !bit }
        });
        state.latch & inputs
    }

    /// /INT follows whether the port differs from what was last read or written.
    fn inputs_changed(&self) {
        let state = self.state();
        let differs = self.port(&state) != state.seen;
        drop(state);
        if let Some(int) = &self.int {
            int.drive(differs.then_some(false));
        }
    }

    /// A read or write of the port: what it is now becomes what changes are measured against,
    /// and /INT lets go.
    fn reset_interrupt(&self, state: &mut State) {
        state.seen = self.port(state);
        if let Some(int) = &self.int {
            int.drive(None);
        }
    }
}

impl Device for Pcf8574 {
    /// Every byte is latched onto the pins as it arrives, so the last one stays.
    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        let mut state = self.0.state();
        if let Some(&last) = data.last() {
            state.latch = last;
        }
        self.0.reset_interrupt(&mut state);
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        let mut state = self.0.state();
        buf.fill(self.0.port(&state));
        self.0.reset_interrupt(&mut state);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    #[test]
    fn reads_latch_and_inputs() {
        let mut chip = Pcf8574::new(0b1111_0101);
        let mut b = [0; 2];
        chip.read(&mut b).unwrap();
        assert_eq!(b, [0b1111_0101; 2]);
        chip.write(&[0x00, 0x3C]).unwrap();
        chip.read(&mut b).unwrap();
        assert_eq!(b, [0x3C & 0b1111_0101; 2]);
        chip.write(&[]).unwrap();
        chip.read(&mut b[..1]).unwrap();
        assert_eq!(b[0], 0x34);
    }

    #[test]
    fn int_goes_low_on_an_input_change_until_the_port_is_read_or_the_input_returns() {
        let int = Arc::new(SimLine::new("int", 0, true, Clock::real()));
        let button = Arc::new(SimLine::new("button", 1, true, Clock::real()));
        let mut chip = Pcf8574::wired(0xFF, Some(int.clone()), vec![(3, button.clone())]);
        assert!(int.level(), "nothing changed since power-on");
        button.drive(Some(false));
        assert!(!int.level(), "P3 fell");
        let mut b = [0];
        chip.read(&mut b).unwrap();
        assert_eq!((b[0], int.level()), (0xF7, true), "read: P3 low, and /INT let go");
        button.drive(None);
        assert!(!int.level(), "P3 rose");
        button.drive(Some(false));
        assert!(int.level(), "back as last read: no interrupt");
        button.drive(None);
        chip.write(&[0xFF]).unwrap();
        assert!(int.level(), "a write lets go too");
        // An output pin the chip holds low does not change with its input.
        chip.write(&[0xF7]).unwrap();
        button.drive(Some(false));
        assert!(int.level());
    }
}
