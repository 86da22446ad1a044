//! A Solomon Systech SSD1306: the 128×64 OLED controller of most small I2C displays, and the
//! panel it drives, which the simulator shows as an image file (SSD1306 datasheet, Rev 1.1).
//!
//! What the model follows:
//! - Each write message is control bytes and what they announce (§8.1.5.1): a control byte's
//!   Co bit (7) clear says the rest of the message is all data (D/C# bit 6 set) or all
//!   commands; set, that one byte follows, then another control byte. The I2C interface only
//!   writes: a read header is not acknowledged.
//! - The commands of Table 9-1 with their argument bytes, which may come in later bytes or
//!   messages: contrast (0x81), entire display on (0xA4/0xA5), inverse (0xA6/0xA7), display
//!   off/on (0xAE/0xAF); the three addressing modes (0x20), column and page ranges (0x21,
//!   0x22), page mode's start column and page (0x00–0x1F, 0xB0–0xB7); start line (0x40–0x7F),
//!   segment remap (0xA0/0xA1), multiplex ratio (0xA8), COM scan direction (0xC0/0xC8), display
//!   offset (0xD3), COM pins (0xDA), clock, pre-charge and VCOMH (0xD5, 0xD9, 0xDB), charge pump
//!   (0x8D, application note), the scrolling setup (0x26/0x27, 0x29/0x2A, 0xA3) and NOP (0xE3).
//!   Power-on values as §8/Table 9-1 give them: display off, page addressing, 64 rows, no remap.
//! - Data goes to the 128 × 8-page GDDRAM, a byte a column of 8 rows, LSB on top (§8.7), the
//!   pointer moving as the addressing mode says (§10.1.3): along the page and wrapping within it
//!   in page mode; along the column range then to the next page in horizontal mode; down the
//!   page range then to the next column in vertical mode; each wrapping to the range's start.
//!
//! The panel (`panel`, a PBM image, rewritten after each transfer that changes it) is what the
//! glass shows: nothing while the display is off, every pixel with entire display on, else the
//! RAM, inverted with 0xA7, through the segment remap, COM scan direction, start line and
//! offset, MUX+1 rows. It is oriented as the usual modules wire the glass, SEG0 at the right
//! edge and COM0 at the bottom, so the drivers' 0xA1/0xC8 show their image upright. Not
//! modelled: scrolling (set up, but the image stands still), contrast and the analog settings
//! (kept only), the COM pins' alternative layout, the charge pump's effect on the light.

use super::{Ack, Device, Rw};
use smbus_proxy_wire::Errno;
use std::path::PathBuf;
use std::time::Instant;

const COLUMNS: usize = 128;
const PAGES: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Addressing {
    Horizontal,
    Vertical,
    Page,
}

pub(crate) struct Ssd1306 {
    ram: [[u8; COLUMNS]; PAGES],
    addressing: Addressing,
    column: u8,
    page: u8,
    columns: (u8, u8),
    pages: (u8, u8),
    /// Page mode's start column, from 0x00–0x1F.
    page_column: u8,
    contrast: u8,
    on: bool,
    entire_on: bool,
    inverse: bool,
    segment_remap: bool,
    com_remap: bool,
    start_line: u8,
    offset: u8,
    /// The multiplex ratio less one: the rows shown, less one.
    mux: u8,
    charge_pump: u8,
    /// A command waiting for its argument bytes: the command and the arguments so far.
    pending: Option<(u8, Vec<u8>)>,
    /// Where the panel's image goes, and whether it changed since it was last written.
    panel: Option<PathBuf>,
    dirty: bool,
}

/// How many argument bytes a command takes.
fn arguments(command: u8) -> usize {
    match command {
        0x81 | 0x20 | 0xA8 | 0xD3 | 0xDA | 0xD5 | 0xD9 | 0xDB | 0x8D => 1,
        0x21 | 0x22 | 0xA3 => 2,
        0x29 | 0x2A => 5,
        0x26 | 0x27 => 6,
        _ => 0,
    }
}

impl Ssd1306 {
    pub(crate) fn new(panel: Option<PathBuf>) -> Self {
        let chip = Ssd1306 {
            ram: [[0; COLUMNS]; PAGES],
            addressing: Addressing::Page,
            column: 0,
            page: 0,
            columns: (0, 127),
            pages: (0, 7),
            page_column: 0,
            contrast: 0x7F,
            on: false,
            entire_on: false,
            inverse: false,
            segment_remap: false,
            com_remap: false,
            start_line: 0,
            offset: 0,
            mux: 63,
            charge_pump: 0x10,
            pending: None,
            panel,
            dirty: true,
        };
        chip.show();
        chip
    }

    /// A command byte: a command, or an argument of the one pending.
    fn command_byte(&mut self, byte: u8) {
        let (command, args) = match self.pending.take() {
            Some((command, mut args)) => {
                args.push(byte);
                (command, args)
            }
            None => (byte, Vec::new()),
        };
        if args.len() < arguments(command) {
            self.pending = Some((command, args));
            return;
        }
        self.run(command, &args);
    }

    fn run(&mut self, command: u8, args: &[u8]) {
        let arg = |i: usize| args.get(i).copied().unwrap_or(0);
        match command {
            0x00..=0x0F => {
                self.page_column = self.page_column & 0xF0 | command;
                self.column = self.page_column;
            }
            0x10..=0x1F => {
                self.page_column = (self.page_column & 0x0F | (command & 0x07) << 4) & 0x7F;
                self.column = self.page_column;
            }
            0x20 => {
                self.addressing = match arg(0) & 0x03 {
                    0 => Addressing::Horizontal,
                    1 => Addressing::Vertical,
                    // 0b11 is invalid; the chip's reset value is page mode.
                    _ => Addressing::Page,
                }
            }
            0x21 => {
                self.columns = (arg(0) & 0x7F, arg(1) & 0x7F);
                self.column = self.columns.0;
            }
            0x22 => {
                self.pages = (arg(0) & 0x07, arg(1) & 0x07);
                self.page = self.pages.0;
            }
            0x40..=0x7F => self.start_line = command & 0x3F,
            0x81 => self.contrast = arg(0),
            0x8D => self.charge_pump = arg(0),
            0xA0 | 0xA1 => self.segment_remap = command == 0xA1,
            0xA4 | 0xA5 => self.entire_on = command == 0xA5,
            0xA6 | 0xA7 => self.inverse = command == 0xA7,
            // MUX ratios below 16 are invalid and leave it as it was.
            0xA8 if arg(0) & 0x3F >= 15 => self.mux = arg(0) & 0x3F,
            0xAE | 0xAF => self.on = command == 0xAF,
            0xB0..=0xB7 => self.page = command & 0x07,
            0xC0 | 0xC8 => self.com_remap = command == 0xC8,
            0xD3 => self.offset = arg(0) & 0x3F,
            // Scrolling, COM pins, timing, NOP: kept by the chip, not shown here.
            _ => return,
        }
        self.dirty = true;
    }

    /// A data byte into GDDRAM, and the pointer on as the addressing mode says.
    fn data_byte(&mut self, byte: u8) {
        self.ram[usize::from(self.page)][usize::from(self.column)] = byte;
        self.dirty = true;
        let wrap = |at: u8, (start, end): (u8, u8)| if at >= end { start } else { at + 1 };
        match self.addressing {
            Addressing::Page => {
                self.column = if self.column >= 127 { self.page_column } else { self.column + 1 }
            }
            Addressing::Horizontal => {
                if self.column >= self.columns.1 {
                    self.page = wrap(self.page, self.pages);
                }
                self.column = wrap(self.column, self.columns);
            }
            Addressing::Vertical => {
                if self.page >= self.pages.1 {
                    self.column = wrap(self.column, self.columns);
                }
                self.page = wrap(self.page, self.pages);
            }
        }
    }

    /// Whether the glass lights the pixel `x` from the left, `y` from the top.
    fn lit(&self, x: usize, y: usize) -> bool {
        if !self.on {
            return false;
        }
        if self.entire_on {
            return true;
        }
        let rows = usize::from(self.mux) + 1;
        let (segment, com) = (COLUMNS - 1 - x, rows - 1 - y);
        let column = if self.segment_remap { COLUMNS - 1 - segment } else { segment };
        let scanned = if self.com_remap { rows - 1 - com } else { com };
        let row = (scanned + usize::from(self.start_line) + usize::from(self.offset)) % 64;
        let on = self.ram[row / 8][column] >> (row % 8) & 1 == 1;
        on != self.inverse
    }

    /// The panel as a PBM image (P4: rows of bits, MSB leftmost, 1 black); lit pixels are
    /// white on a dark glass, so they are 0.
    fn image(&self) -> Vec<u8> {
        let rows = usize::from(self.mux) + 1;
        let mut image = format!("P4\n{COLUMNS} {rows}\n").into_bytes();
        for y in 0..rows {
            for byte in 0..COLUMNS / 8 {
                let bits = (0..8).fold(0u8, |bits, bit| bits << 1 | u8::from(!self.lit(byte * 8 + bit, y)));
                image.push(bits);
            }
        }
        image
    }

    /// Writes the panel's image, whole or not at all: to a file beside it, then renamed.
    fn show(&self) {
        let Some(path) = &self.panel else { return };
        let mut next = path.clone().into_os_string();
        next.push(".next");
        let written = std::fs::write(&next, self.image()).and_then(|()| std::fs::rename(&next, path));
        if let Err(error) = written {
            tracing::warn!(panel = %path.display(), %error, "the simulated SSD1306 cannot show its panel");
        }
    }
}

impl Device for Ssd1306 {
    fn address(&mut self, rw: Rw, _now: Instant) -> Ack {
        match rw {
            Rw::Write => Ack::Ack,
            Rw::Read => Ack::Nack,
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        let mut bytes = data.iter().copied();
        while let Some(control) = bytes.next() {
            let is_data = control & 0x40 != 0;
            let one = control & 0x80 != 0;
            for byte in bytes.by_ref().take(if one { 1 } else { usize::MAX }) {
                if is_data { self.data_byte(byte) } else { self.command_byte(byte) }
            }
        }
        Ok(())
    }

    fn read(&mut self, _buf: &mut [u8]) -> Result<(), Errno> {
        // Never reached: a read header is not acknowledged.
        Err(Errno::ENXIO)
    }

    fn stop(&mut self, _now: Instant) {
        if std::mem::take(&mut self.dirty) {
            self.show();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(chip: &Ssd1306) -> Vec<Vec<bool>> {
        let rows = usize::from(chip.mux) + 1;
        (0..rows).map(|y| (0..COLUMNS).map(|x| chip.lit(x, y)).collect()).collect()
    }

    fn lit(chip: &Ssd1306) -> Vec<(usize, usize)> {
        let panel = panel(chip);
        (0..panel.len())
            .flat_map(|y| (0..COLUMNS).map(move |x| (x, y)))
            .filter(|&(x, y)| panel[y][x])
            .collect()
    }

    #[test]
    fn control_bytes_commands_and_data() {
        let mut chip = Ssd1306::new(None);
        // Co set: one command, then a control byte; arguments may follow in later bytes.
        chip.write(&[0x80, 0x20, 0x80, 0x00]).unwrap();
        assert_eq!(chip.addressing, Addressing::Horizontal);
        chip.write(&[0x00, 0x21, 0x02]).unwrap();
        chip.write(&[0x00, 0x03, 0x22, 0x01, 0x02]).unwrap();
        assert_eq!((chip.columns, chip.pages), ((2, 3), (1, 2)));
        chip.write(&[0x40, 1, 2, 3, 4, 5]).unwrap();
        assert_eq!(
            (chip.ram[1][2], chip.ram[1][3], chip.ram[2][2], chip.ram[2][3]),
            (5, 2, 3, 4),
            "along the columns, then the next page; the fifth wrapped to the ranges' start"
        );
        chip.write(&[0x00, 0x20, 0x01, 0x21, 0, 127, 0x22, 6, 7]).unwrap();
        chip.write(&[0x40, 0xAA, 0xBB, 0xCC]).unwrap();
        assert_eq!((chip.ram[6][0], chip.ram[7][0], chip.ram[6][1]), (0xAA, 0xBB, 0xCC), "vertical");
        chip.write(&[0x00, 0x20, 0x02, 0xB3, 0x0E, 0x17]).unwrap();
        assert_eq!((chip.page, chip.column), (3, 0x7E));
        chip.write(&[0x40, 1, 2, 3]).unwrap();
        assert_eq!((chip.ram[3][126], chip.ram[3][127]), (3, 2), "page mode wraps to its start column");
        assert_eq!(chip.ram[4][0], 0);
    }

    #[test]
    fn the_panel_shows_the_ram_as_the_module_is_wired() {
        let mut chip = Ssd1306::new(None);
        chip.write(&[0x00, 0x20, 0x00, 0x21, 0, 127, 0x22, 0, 7]).unwrap();
        let mut ram = vec![0; 1024];
        ram[0] = 0x01; // column 0, row 0
        ram[1] = 0x02; // column 1, row 1
        chip.write(&[&[0x40][..], &ram].concat()).unwrap();
        assert_eq!(lit(&chip), [], "display off");
        chip.write(&[0x00, 0xAF]).unwrap();
        assert_eq!(lit(&chip), [(126, 62), (127, 63)], "power-on mapping: upside down");
        chip.write(&[0x00, 0xA1, 0xC8]).unwrap();
        assert_eq!(lit(&chip), [(0, 0), (1, 1)], "remapped as drivers do: upright");
        chip.write(&[0x00, 0x41]).unwrap();
        assert_eq!(lit(&chip), [(1, 0), (0, 63)], "start line 1: the image moves up a row");
        chip.write(&[0x00, 0x40, 0xA7]).unwrap();
        assert_eq!(lit(&chip).len(), 128 * 64 - 2, "inverse");
        chip.write(&[0x00, 0xA6, 0xA8, 31]).unwrap();
        assert_eq!(panel(&chip).len(), 32, "MUX 32: 32 rows");
        chip.write(&[0x00, 0xA5]).unwrap();
        assert_eq!(lit(&chip).len(), 128 * 32, "entire display on");
    }

    #[test]
    fn the_panel_file_is_a_pbm_of_what_the_glass_shows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oled.pbm");
        let mut chip = Ssd1306::new(Some(path.clone()));
        let image = std::fs::read(&path).unwrap();
        assert_eq!(&image[..10], b"P4\n128 64\n");
        assert!(image[10..].iter().all(|&b| b == 0xFF), "power-on: off, all dark");
        chip.write(&[0x00, 0xAF, 0xA1, 0xC8, 0x20, 0x00]).unwrap();
        chip.write(&[0x40, 0x01]).unwrap();
        chip.stop(Instant::now());
        let image = std::fs::read(&path).unwrap();
        assert_eq!(image.len(), 10 + 16 * 64);
        assert_eq!(image[10], 0x7F, "the top-left pixel lit");
        assert_eq!(image[11..].iter().filter(|&&b| b != 0xFF).count(), 0);
        assert!(!dir.path().join("oled.pbm.next").exists());
    }

    #[test]
    fn reads_are_not_acknowledged() {
        let mut chip = Ssd1306::new(None);
        assert_eq!(chip.address(Rw::Read, Instant::now()), Ack::Nack);
        assert_eq!(chip.address(Rw::Write, Instant::now()), Ack::Ack);
    }
}
