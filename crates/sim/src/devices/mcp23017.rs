//! A Microchip MCP23017: a 16-bit I/O expander, two 8-bit ports A and B, with interrupt on
//! change and its INTA/INTB outputs (Microchip MCP23017/MCP23S17 datasheet, DS20001952C).
//!
//! What the model follows:
//! - Eleven register pairs (Table 3-1): IODIR, IPOL, GPINTEN, DEFVAL, INTCON, IOCON, GPPU,
//!   INTF, INTCAP, GPIO, OLAT. With IOCON.BANK = 0 (power-on) a pair's A and B registers sit
//!   side by side at 0x00–0x15; with BANK = 1 port A's are at 0x00–0x0A and B's at 0x10–0x1A
//!   (Table 3-3); the addresses in between read 0. IOCON is one register at both its
//!   addresses. Power-on values: IODIR 0xFF, everything else 0.
//! - A write's first byte sets the address pointer. In sequential mode (IOCON.SEQOP = 0) the
//!   pointer moves on after each byte and rolls over to 0 after the last register; in byte mode
//!   it stays, or with BANK = 0 toggles between the pair's A and B registers (§3.2.1).
//! - A pin is an input while its IODIR bit is 1: it reads what drives it (a GPIO line wired to
//!   it, else `inputs`); an output drives its OLAT bit. GPIO reads the pins, an input's bit
//!   inverted where IPOL says; writing GPIO writes OLAT. INTF and INTCAP are read-only.
//! - Interrupt on change (§3.6): a pin enabled in GPINTEN interrupts when its level differs from
//!   its previous level (INTCON bit 0) or from its DEFVAL bit (INTCON bit 1). The first
//!   interrupt on a port sets INTF to the pins that caused it and copies GPIO into INTCAP;
//!   further conditions change neither until the interrupt is cleared by reading that port's
//!   GPIO or INTCAP. A pin compared with DEFVAL that still differs interrupts again at once.
//! - INTA follows port A's interrupt and INTB port B's, or both follow either with
//!   IOCON.MIRROR; they are push-pull, active low unless IOCON.INTPOL, or open drain (active
//!   low, let go when inactive) with IOCON.ODR (Register 3-6).
//!
//! Pins wired to lines are read from them; an output pin does not drive its line. GPPU is
//! kept and read back, but an undriven input reads its `inputs` bit whatever the pull-up.

use super::Device;
use crate::lines::SimLine;
use smbus_proxy_wire::Errno;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// The register pairs in the order of their addresses (Table 3-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reg {
    Iodir,
    Ipol,
    Gpinten,
    Defval,
    Intcon,
    Iocon,
    Gppu,
    Intf,
    Intcap,
    Gpio,
    Olat,
}

const REGS: [Reg; 11] = [
    Reg::Iodir,
    Reg::Ipol,
    Reg::Gpinten,
    Reg::Defval,
    Reg::Intcon,
    Reg::Iocon,
    Reg::Gppu,
    Reg::Intf,
    Reg::Intcap,
    Reg::Gpio,
    Reg::Olat,
];

const BANK: u8 = 1 << 7;
const MIRROR: u8 = 1 << 6;
const SEQOP: u8 = 1 << 5;
const ODR: u8 = 1 << 2;
const INTPOL: u8 = 1 << 1;

/// The register at `addr` and its port (0 = A, 1 = B), as IOCON.BANK lays them out.
fn locate(addr: u8, bank: bool) -> Option<(Reg, usize)> {
    let (index, port) =
        if bank { (addr & 0x0F, usize::from(addr >> 4)) } else { (addr / 2, usize::from(addr & 1)) };
    if port > 1 {
        return None;
    }
    REGS.get(usize::from(index)).map(|&reg| (reg, port))
}

/// The last address, after which a sequential access rolls over to 0.
fn last(bank: bool) -> u8 {
    if bank { 0x1A } else { 0x15 }
}

pub(crate) struct Mcp23017(Arc<Chip>);

struct Chip {
    state: Mutex<State>,
    /// The lines INTA and INTB drive.
    int: [Option<Arc<SimLine>>; 2],
    /// The lines that drive its pins: 0–7 are GPA0–7, 8–15 GPB0–7.
    pins: Vec<(u8, Arc<SimLine>)>,
}

struct State {
    /// Each register pair, A then B (IOCON's two halves kept equal).
    regs: [[u8; 2]; 11],
    /// What drives the input pins no line is wired to.
    inputs: u16,
    /// Each port's pin levels when last looked at: what "changed" is measured against.
    previous: [u8; 2],
    pointer: u8,
}

impl State {
    fn reg(&self, reg: Reg, port: usize) -> u8 {
        self.regs[reg as usize][port]
    }

    fn iocon(&self) -> u8 {
        self.regs[Reg::Iocon as usize][0]
    }
}

impl Mcp23017 {
    /// A chip whose INTA/INTB drive `int`, and whose pins `pins` drive.
    pub(crate) fn wired(inputs: u16, int: [Option<Arc<SimLine>>; 2], pins: Vec<(u8, Arc<SimLine>)>) -> Self {
        let mut regs = [[0; 2]; 11];
        regs[Reg::Iodir as usize] = [0xFF; 2];
        let chip = Arc::new(Chip {
            state: Mutex::new(State { regs, inputs, previous: [0; 2], pointer: 0 }),
            int,
            pins,
        });
        {
            let mut state = chip.state();
            state.previous = [0, 1].map(|port| chip.levels(&state, port));
        }
        for (_, line) in &chip.pins {
            let chip: Weak<Chip> = Arc::downgrade(&chip);
            line.watch(Box::new(move |_| {
                if let Some(chip) = chip.upgrade() {
                    chip.changed();
                }
            }));
        }
        chip.changed();
        Mcp23017(chip)
    }
}

impl Chip {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A port's pin levels: an input's from what drives it, an output's from its latch.
    fn levels(&self, state: &State, port: usize) -> u8 {
        let shift = 8 * port;
        let driven = self.pins.iter().fold(state.inputs, |inputs, (pin, line)| {
            let bit = 1 << pin;
            if line.level() { inputs | bit } else { inputs & !bit }
        });
        let outside = (driven >> shift) as u8;
        let input = state.reg(Reg::Iodir, port);
        outside & input | state.reg(Reg::Olat, port) & !input
    }

    /// GPIO as read: the levels, inputs inverted where IPOL says.
    fn gpio(&self, state: &State, port: usize) -> u8 {
        self.levels(state, port) ^ state.reg(Reg::Ipol, port) & state.reg(Reg::Iodir, port)
    }

    /// Looks for interrupt conditions on each port: the first sets INTF and captures GPIO.
    fn evaluate(&self, state: &mut State) {
        for port in 0..2 {
            let levels = self.levels(state, port);
            let intcon = state.reg(Reg::Intcon, port);
            let changed = levels ^ state.previous[port];
            let differs = levels ^ state.reg(Reg::Defval, port);
            let cause = (changed & !intcon | differs & intcon) & state.reg(Reg::Gpinten, port);
            state.previous[port] = levels;
            if cause != 0 && state.reg(Reg::Intf, port) == 0 {
                state.regs[Reg::Intf as usize][port] = cause;
                state.regs[Reg::Intcap as usize][port] = self.gpio(state, port);
            }
        }
    }

    /// Reading a port's GPIO or INTCAP clears its interrupt, unless a pin compared with DEFVAL
    /// still differs.
    fn clear(&self, state: &mut State, port: usize) {
        state.regs[Reg::Intf as usize][port] = 0;
        let differs = self.levels(state, port) ^ state.reg(Reg::Defval, port);
        let cause = differs & state.reg(Reg::Intcon, port) & state.reg(Reg::Gpinten, port);
        if cause != 0 {
            state.regs[Reg::Intf as usize][port] = cause;
            state.regs[Reg::Intcap as usize][port] = self.gpio(state, port);
        }
    }

    /// What INTA and INTB drive: low or high, or nothing (open drain, inactive).
    fn outputs(state: &State) -> [Option<bool>; 2] {
        let iocon = state.iocon();
        let mut active = [0, 1].map(|port| state.reg(Reg::Intf, port) != 0);
        if iocon & MIRROR != 0 {
            active = [active[0] || active[1]; 2];
        }
        active.map(|active| match (iocon & ODR != 0, active) {
            (true, true) => Some(false),
            (true, false) => None,
            (false, active) => Some(active == (iocon & INTPOL != 0)),
        })
    }

    /// After anything that may change a pin or the interrupt logic: looks for interrupts and
    /// sets INTA/INTB. The lock is let go first: a line this drives may be wired to a pin.
    fn changed(&self) {
        let mut state = self.state();
        self.evaluate(&mut state);
        self.drive(state);
    }

    fn drive(&self, state: MutexGuard<'_, State>) {
        let outputs = Chip::outputs(&state);
        drop(state);
        for (line, level) in self.int.iter().zip(outputs) {
            if let Some(line) = line {
                line.drive(level);
            }
        }
    }

    /// Where the pointer goes after a byte at `at`.
    fn advance(state: &State, at: u8) -> u8 {
        let iocon = state.iocon();
        let bank = iocon & BANK != 0;
        match (iocon & SEQOP != 0, bank) {
            (false, _) if at >= last(bank) => 0,
            (false, _) => at + 1,
            (true, false) => at ^ 1,
            (true, true) => at,
        }
    }
}

impl Device for Mcp23017 {
    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        let chip = &self.0;
        let Some((&at, values)) = data.split_first() else { return Ok(()) };
        let mut state = chip.state();
        state.pointer = at;
        for &value in values {
            let at = state.pointer;
            match locate(at, state.iocon() & BANK != 0) {
                Some((Reg::Intf | Reg::Intcap, _)) | None => {}
                Some((Reg::Iocon, _)) => state.regs[Reg::Iocon as usize] = [value & !1; 2],
                Some((Reg::Gpio, port)) => state.regs[Reg::Olat as usize][port] = value,
                Some((reg, port)) => state.regs[reg as usize][port] = value,
            }
            state.pointer = Chip::advance(&state, at);
            chip.evaluate(&mut state);
        }
        chip.drive(state);
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        let chip = &self.0;
        let mut state = chip.state();
        chip.evaluate(&mut state);
        for b in buf.iter_mut() {
            let at = state.pointer;
            *b = match locate(at, state.iocon() & BANK != 0) {
                None => 0,
                Some((Reg::Gpio, port)) => {
                    let value = chip.gpio(&state, port);
                    chip.clear(&mut state, port);
                    value
                }
                Some((Reg::Intcap, port)) => {
                    let value = state.reg(Reg::Intcap, port);
                    chip.clear(&mut state, port);
                    value
                }
                Some((reg, port)) => state.reg(reg, port),
            };
            state.pointer = Chip::advance(&state, at);
        }
        chip.drive(state);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    fn line(name: &str, offset: u32, pull_up: bool) -> Arc<SimLine> {
        Arc::new(SimLine::new(name, offset, pull_up, Clock::real()))
    }

    fn read(chip: &mut Mcp23017, at: u8, len: usize) -> Vec<u8> {
        chip.write(&[at]).unwrap();
        let mut buf = vec![0; len];
        chip.read(&mut buf).unwrap();
        buf
    }

    #[test]
    fn registers_ports_and_the_address_pointer() {
        let mut chip = Mcp23017::wired(0xA5F0, [None, None], Vec::new());
        assert_eq!(read(&mut chip, 0x00, 4), [0xFF, 0xFF, 0, 0], "IODIRA/B, IPOLA/B at power-on");
        assert_eq!(read(&mut chip, 0x12, 2), [0xF0, 0xA5], "GPIOA/B: inputs");
        assert_eq!(read(&mut chip, 0x15, 2), [0, 0xFF], "OLATB, then rolls over to IODIRA");
        chip.write(&[0x00, 0x0F, 0xFF]).unwrap(); // GPA4–7 outputs
        chip.write(&[0x12, 0x30]).unwrap(); // GPIOA: writes OLATA
        assert_eq!(read(&mut chip, 0x14, 1), [0x30]);
        assert_eq!(read(&mut chip, 0x12, 1), [0x30], "GPA4/5 high from the latch, GPA0–3 low inputs");
        chip.write(&[0x02, 0xFF]).unwrap(); // IPOLA
        assert_eq!(read(&mut chip, 0x12, 1), [0x3F], "IPOL inverts the inputs only");
        chip.write(&[0x0E, 0xFF, 0xFF]).unwrap();
        assert_eq!(read(&mut chip, 0x0E, 4), [0, 0, 0, 0], "INTF, INTCAP: read-only");

        chip.write(&[0x0A, SEQOP]).unwrap();
        assert_eq!(read(&mut chip, 0x0B, 1), [SEQOP], "IOCON at both addresses");
        assert_eq!(read(&mut chip, 0x13, 3), [0xA5, 0x3F, 0xA5], "byte mode, BANK 0: GPIOB, GPIOA, GPIOB");
        chip.write(&[0x0A, BANK]).unwrap();
        assert_eq!(read(&mut chip, 0x05, 1), [BANK], "BANK 1: IOCON at 0x05");
        assert_eq!(read(&mut chip, 0x19, 2), [0xA5, 0], "GPIOB at 0x19, OLATB at 0x1A");
        assert_eq!(read(&mut chip, 0x0B, 1), [0], "between the banks: nothing");
        assert_eq!(read(&mut chip, 0x1A, 2), [0, 0x0F], "rolls over after 0x1A");
    }

    #[test]
    fn interrupt_on_change_captures_the_port_until_it_is_read() {
        let (inta, intb) = (line("inta", 0, true), line("intb", 1, true));
        let button = line("button", 2, true);
        let mut chip =
            Mcp23017::wired(0xFFFF, [Some(inta.clone()), Some(intb.clone())], vec![(2, button.clone())]);
        chip.write(&[0x04, 0x04]).unwrap(); // GPINTENA: GPA2
        assert!(inta.level() && intb.level(), "push-pull, active low: both high");
        button.drive(Some(false));
        assert!(!inta.level() && intb.level(), "GPA2 fell: INTA");
        button.drive(None);
        assert_eq!(read(&mut chip, 0x0E, 1), [0x04], "INTF: GPA2");
        assert!(!inta.level(), "reading INTF clears nothing");
        assert_eq!(read(&mut chip, 0x10, 1), [0xFB], "INTCAP: the port when it fell, not now");
        assert!(inta.level(), "reading INTCAP cleared it");
        assert_eq!(read(&mut chip, 0x0E, 1), [0]);

        chip.write(&[0x0A, MIRROR | ODR]).unwrap();
        button.drive(Some(false));
        assert!(!inta.level() && !intb.level(), "MIRROR: both, open drain");
        read(&mut chip, 0x12, 1);
        assert!(inta.level() && intb.level(), "reading GPIOA cleared it");

        // Compared with DEFVAL: the interrupt stays while the pin differs.
        chip.write(&[0x06, 0x04]).unwrap(); // DEFVALA: GPA2 high
        chip.write(&[0x08, 0x04]).unwrap(); // INTCONA: compare
        assert!(!inta.level(), "GPA2 is low: differs");
        read(&mut chip, 0x10, 1);
        assert!(!inta.level(), "still differs: again at once");
        button.drive(None);
        assert!(!inta.level(), "back to DEFVAL, but not yet read");
        read(&mut chip, 0x10, 1);
        assert!(inta.level());
        chip.write(&[0x0A, INTPOL]).unwrap();
        assert!(!inta.level(), "INTPOL: push-pull active high, inactive low");
    }
}
