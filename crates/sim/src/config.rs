//! The simulator's TOML configuration: which buses exist, what sits on them, and which faults
//! to inject.
//!
//! The file is read into private `Raw*` structs that mirror it, then validated into the public
//! [`Config`]; holding a `Config` means every bus and device in it is usable, as holding an
//! `Op` does for operations. Mistakes are reported, never clamped, with the bus and device
//! they are in. `examples/lab.toml` shows every option.

use crate::bus::SimBus;
use crate::clock::Clock;
use crate::devices::{ByteOrder, EepromPart, Register};
use crate::lines::{SimLine, SimLines};
use crate::replay::{Replay, ReplayError, ReplayMode};
use serde::Deserialize;
use smbus_proxy_wire::Errno;
use smbus_proxy_wire::funcs::*;
use smbus_proxy_wire::op::{MAX_ADDR_7, MAX_ADDR_10};
use smbus_proxy_wire::quote::quote;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Everything an adapter can do: plain I2C with all its options, and every SMBus command by
/// emulation (PEC included).
pub const FUNCS_FULL: u64 = I2C | TEN_BIT_ADDR | PROTOCOL_MANGLING | NOSTART | SMBUS_EMUL_ALL;
/// A Raspberry Pi's bcm2835: plain I2C and the SMBus the kernel emulates on it, which leaves
/// out SMBus block read and block process call.
pub const FUNCS_BCM2835: u64 = I2C | SMBUS_EMUL;
/// A PC's Intel i801 SMBus controller: SMBus commands only, no plain I2C.
pub const FUNCS_I801: u64 = SMBUS_QUICK
    | SMBUS_BYTE
    | SMBUS_BYTE_DATA
    | SMBUS_WORD_DATA
    | SMBUS_BLOCK_DATA
    | SMBUS_I2C_BLOCK
    | SMBUS_PEC;

const PRESETS: &[(&str, u64)] = &[("full", FUNCS_FULL), ("bcm2835", FUNCS_BCM2835), ("i801", FUNCS_I801)];

/// The register file's size.
const REGISTER_FILE: usize = 256;

/// A validated simulator configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The buses, each with its own number.
    pub buses: Vec<BusConfig>,
    /// The simulated GPIO lines, in the order of the file: their offsets on the chip.
    pub lines: Vec<LineConfig>,
}

/// One simulated GPIO line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineConfig {
    /// Its name, unique, as a kernel's line name: 1 to 31 bytes.
    pub name: String,
    /// Whether the board pulls it up when nothing drives it (else down).
    pub pull_up: bool,
    /// A line a wire joins it to: this one is driven to that one's level.
    pub follows: Option<String>,
}

/// One simulated adapter, `/dev/i2c-{number}` to clients.
#[derive(Clone, Debug, PartialEq)]
pub struct BusConfig {
    /// The N of `/dev/i2c-N`.
    pub number: u32,
    /// The adapter's name.
    pub name: String,
    /// The `I2C_FUNC_*` mask the adapter reports and enforces.
    pub funcs: u64,
    /// The bus clock; `None` runs at full speed, with no wire time and no timeouts.
    pub speed_khz: Option<u32>,
    /// Addresses that never acknowledge, device or not, in 7-bit and 10-bit mode alike.
    pub nack: Vec<u16>,
    /// Every Nth operation fails with `fail_errno`; 0 is never.
    pub fail_every: u64,
    /// The errno of those failures.
    pub fail_errno: Errno,
    /// The chips on the bus.
    pub devices: Vec<DeviceConfig>,
    /// A trace played back in place of every device (then there are no others).
    pub replay: Option<Replay>,
}

/// One chip on a bus.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceConfig {
    /// The chip's address.
    pub addr: u16,
    /// Whether the address is 10-bit.
    pub ten_bit: bool,
    /// A kernel driver owns the address: SMBus operations get EBUSY unless forced.
    pub busy: bool,
    /// What the chip is.
    pub model: Model,
    /// The GPIO line on its /RESET input: while the line is low the chip does not acknowledge,
    /// and once it rises the chip is as at power-on.
    pub reset: Option<String>,
    /// The GPIO line on its enable input: while the line is low the chip is shut down and
    /// does not acknowledge; it keeps its registers.
    pub enable: Option<String>,
}

/// A chip model and its power-on state.
#[derive(Clone, Debug, PartialEq)]
pub enum Model {
    /// 256 8-bit registers from register 0; the rest are 0.
    RegisterFile {
        /// The registers' power-on values.
        registers: Vec<u8>,
    },
    /// 8- and 16-bit registers behind a pointer, each with its power-on value, access and
    /// write mask.
    RegisterMap {
        /// The order of a 16-bit register's bytes on the wire.
        byte_order: ByteOrder,
        /// Whether the pointer moves to the next register after each whole one.
        auto_increment: bool,
        /// The registers, each at its own pointer value.
        registers: Vec<Register>,
    },
    /// A 24C-family serial EEPROM: `contents` from address 0, the rest erased (0xFF).
    Eeprom {
        /// Which part: its size, page and address bytes.
        part: EepromPart,
        /// The memory's contents.
        contents: Vec<u8>,
        /// How long the part stays busy (not acknowledging) after each write.
        write_cycle: Duration,
    },
    /// What the outside circuit drives onto the pins (1 = high or floating).
    Pcf8574 {
        /// The pins' levels, bit 0 for P0, where no line drives them.
        inputs: u8,
        /// The GPIO line its /INT output pulls low while an input differs from what was last
        /// read or written.
        int: Option<String>,
        /// Pins driven by GPIO lines, P0 to P7, each the line's name.
        pins: Vec<(u8, String)>,
    },
    /// A 16-bit I/O expander with interrupt on change.
    Mcp23017 {
        /// The pins' levels, bit 0 for GPA0 and bit 8 for GPB0, where no line drives them.
        inputs: u16,
        /// The GPIO line its INTA output drives.
        inta: Option<String>,
        /// The GPIO line its INTB output drives.
        intb: Option<String>,
        /// Pins driven by GPIO lines, 0–7 for GPA0–7 and 8–15 for GPB0–7, each the line's name.
        pins: Vec<(u8, String)>,
    },
    /// An SSD1306 OLED display controller.
    Ssd1306 {
        /// The image file that shows its panel, if any.
        panel: Option<PathBuf>,
    },
    /// An FM radio tuner, with its power-on registers.
    Si4703,
    /// Not a chip: every byte written to it, kept in order and read back (`devices/write_log.rs`),
    /// for tests that must see what reached the device and how many times.
    WriteLog,
    /// A TI INA219 current and power monitor and what it measures.
    Ina219 {
        /// The bus voltage, 0 to 32 V.
        bus_volts: f64,
        /// The current through the shunt, in either direction.
        current_amps: f64,
        /// The shunt resistor.
        shunt_ohms: f64,
    },
    /// A recorded trace played back in place of the chip.
    Replay(Replay),
    /// A Sensirion SHT3x humidity and temperature sensor and what it measures.
    Sht3x {
        /// °C, -45 to 130.
        temperature: f64,
        /// %RH, 0 to 100.
        humidity: f64,
        /// Its 32-bit serial number.
        serial: u32,
        /// The GPIO line its ALERT pin drives.
        alert: Option<String>,
    },
    /// An Analog Devices ADXL345 accelerometer and what it measures.
    Adxl345 {
        /// X, Y and Z in g, each -16 to 16.
        acceleration: [f64; 3],
        /// The GPIO line its INT1 pin drives.
        int1: Option<String>,
        /// The GPIO line its INT2 pin drives.
        int2: Option<String>,
    },
    /// A Bosch BME280 pressure, temperature and humidity sensor and what it measures.
    Bme280 {
        /// °C, -40 to 85.
        temperature: f64,
        /// hPa, 300 to 1100.
        pressure: f64,
        /// %RH, 0 to 100.
        humidity: f64,
    },
}

impl Model {
    /// The name the config file uses.
    pub fn name(&self) -> &'static str {
        match self {
            Model::RegisterFile { .. } => "register-file",
            Model::RegisterMap { .. } => "register-map",
            Model::Eeprom { part, .. } => part.model_name(),
            Model::Pcf8574 { .. } => "pcf8574",
            Model::Mcp23017 { .. } => "mcp23017",
            Model::Ssd1306 { .. } => "ssd1306",
            Model::Si4703 => "si4703",
            Model::Ina219 { .. } => "ina219",
            Model::Sht3x { .. } => "sht3x",
            Model::Bme280 { .. } => "bme280",
            Model::Adxl345 { .. } => "adxl345",
            Model::WriteLog => "write-log",
            Model::Replay(_) => "replay",
        }
    }

    /// Whether the chip may hold SCL low (clock stretching), so that an operation takes time
    /// even on a bus with no clock speed set.
    pub fn stretches_the_clock(&self) -> bool {
        matches!(self, Model::Sht3x { .. })
    }

    /// The GPIO lines its output pins drive, each by name.
    pub fn outputs(&self) -> Vec<&str> {
        match self {
            Model::Pcf8574 { int, .. } => int.iter().map(String::as_str).collect(),
            Model::Mcp23017 { inta, intb, .. } => inta.iter().chain(intb).map(String::as_str).collect(),
            Model::Adxl345 { int1, int2, .. } => int1.iter().chain(int2).map(String::as_str).collect(),
            Model::Sht3x { alert, .. } => alert.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// The GPIO lines its input pins read, each by name.
    pub fn inputs(&self) -> Vec<&str> {
        match self {
            Model::Pcf8574 { pins, .. } | Model::Mcp23017 { pins, .. } => {
                pins.iter().map(|(_, line)| line.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// Why a configuration was refused: each says where (the file, the bus, the device), and
/// the cause, through `source()`, what the file system or the trace said.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file that could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// A problem inside a file [`Config::load`] read.
    #[error("{}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The problem.
        #[source]
        error: Box<ConfigError>,
    },
    /// Not TOML, or not the shape of a config (unknown field, wrong type, unknown model):
    /// TOML's own words, clipped (they quote the line, which may be long).
    #[error("{}", smbus_proxy_wire::quote::clip(&.0.to_string()))]
    Syntax(toml::de::Error),
    /// Well-formed, but not usable.
    #[error("{}{problem}", Place(place))]
    Invalid {
        /// Where: `bus 1, device 0x48: register 0x02`; empty for the whole lab.
        place: String,
        /// What is wrong there: `width 12 is not 8 or 16`.
        problem: String,
    },
    /// A trace a replay names cannot be played.
    #[error("{}replay", Place(place))]
    Replay {
        /// Where: `bus 1`, or `bus 1, device 0x48`.
        place: String,
        /// Why.
        #[source]
        error: ReplayError,
    },
}

/// `bus 1: ` before a problem, where it has a place.
struct Place<'a>(&'a str);

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() { Ok(()) } else { write!(f, "{}: ", self.0) }
    }
}

/// A problem found while validating, and where it is, outermost first.
struct Invalid {
    places: Vec<String>,
    problem: Problem,
}

enum Problem {
    Text(String),
    Replay(ReplayError),
}

impl Invalid {
    /// The same problem, inside `place`.
    fn at(mut self, place: String) -> Invalid {
        self.places.insert(0, place);
        self
    }
}

impl From<String> for Invalid {
    fn from(text: String) -> Invalid {
        Invalid { places: Vec::new(), problem: Problem::Text(text) }
    }
}

impl From<&str> for Invalid {
    fn from(text: &str) -> Invalid {
        Invalid::from(text.to_owned())
    }
}

impl From<ReplayError> for Invalid {
    fn from(error: ReplayError) -> Invalid {
        Invalid { places: Vec::new(), problem: Problem::Replay(error) }
    }
}

impl From<Invalid> for ConfigError {
    fn from(invalid: Invalid) -> ConfigError {
        let place = invalid.places.join(": ");
        match invalid.problem {
            Problem::Text(problem) => ConfigError::Invalid { place, problem },
            Problem::Replay(error) => ConfigError::Replay { place, error },
        }
    }
}

/// `[bus]` where `[[bus]]` belongs (or `[bus.device]` for `[[bus.device]]`): one table where
/// a lab has a list, the easiest TOML mistake to make here, which serde can only call "a map,
/// expected a sequence". Said with the line and what to write instead.
fn one_where_many(text: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(text).ok()?;
    let single = match table.get("bus")? {
        toml::Value::Table(_) => "bus",
        toml::Value::Array(buses)
            if buses.iter().any(|b| b.get("device").is_some_and(toml::Value::is_table)) =>
        {
            "bus.device"
        }
        _ => return None,
    };
    let header = format!("[{single}]");
    let line = text.lines().position(|l| l.split('#').next().unwrap_or("").trim() == header)? + 1;
    Some(format!(
        "line {line}: `{header}` is one table, and a lab lists them: write `[{header}]`, once for each"
    ))
}

impl Config {
    /// Parses and validates a configuration; trace files it names are found from the
    /// current directory.
    pub fn parse(toml: &str) -> Result<Config, ConfigError> {
        Config::parse_in(toml, Path::new(""))
    }

    fn parse_in(toml: &str, dir: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(toml).map_err(|e| match one_where_many(toml) {
            Some(problem) => ConfigError::Invalid { place: String::new(), problem },
            None => ConfigError::Syntax(e),
        })?;
        Ok(raw.validate(dir)?)
    }

    /// Reads, parses and validates a configuration file; trace files it names are found from
    /// its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = crate::file::read_to_string(path, crate::file::LAB_MAX)
            .map_err(|error| ConfigError::Read { path: path.to_owned(), error })?;
        Config::parse_in(&text, path.parent().unwrap_or(Path::new("")))
            .map_err(|error| ConfigError::File { path: path.to_owned(), error: Box::new(error) })
    }

    /// The built-in demo: bus 1 (like a Pi's), funcs "full", with an Si4703 at 0x10, a
    /// PCF8574 at 0x20, a register-file chip at 0x48, a 24C02 EEPROM at 0x50 and a BME280
    /// at 0x76 (25 °C, 1013.25 hPa, 50 %RH).
    ///
    /// It runs at full speed, with no faults and an EEPROM with no write cycle, so that
    /// benchmarks measure the proxy, not the chips.
    pub fn demo() -> Config {
        let device = |addr, model| DeviceConfig {
            addr,
            ten_bit: false,
            busy: false,
            model,
            reset: None,
            enable: None,
        };
        Config {
            buses: vec![BusConfig {
                number: 1,
                name: default_name(1),
                funcs: FUNCS_FULL,
                speed_khz: None,
                nack: Vec::new(),
                fail_every: 0,
                fail_errno: Errno::EIO,
                devices: vec![
                    device(0x10, Model::Si4703),
                    device(0x20, Model::Pcf8574 { inputs: 0xFF, int: None, pins: Vec::new() }),
                    device(0x48, Model::RegisterFile { registers: Vec::new() }),
                    device(
                        0x50,
                        Model::Eeprom {
                            part: EepromPart::C02,
                            contents: Vec::new(),
                            write_cycle: Duration::ZERO,
                        },
                    ),
                    device(0x76, Model::Bme280 { temperature: 25.0, pressure: 1013.25, humidity: 50.0 }),
                ],
                replay: None,
            }],
            lines: Vec::new(),
        }
    }

    /// One freshly powered-up bus per configured bus, in the order of the file.
    pub fn build(&self) -> Vec<SimBus> {
        self.build_on(&Clock::real())
    }

    /// The same, keeping time on `clock`.
    pub fn build_on(&self, clock: &Clock) -> Vec<SimBus> {
        self.build_all(clock).0
    }

    /// The buses and the lines, the devices wired to the lines as the file says, keeping time
    /// on `clock`.
    pub fn build_all(&self, clock: &Clock) -> (Vec<SimBus>, SimLines) {
        let lines = self.build_lines(clock);
        let buses = self.buses.iter().map(|bus| SimBus::wired(bus, clock.clone(), &lines)).collect();
        (buses, lines)
    }

    /// The simulated GPIO lines, nothing driving them, keeping time on `clock`.
    pub fn build_lines(&self, clock: &Clock) -> SimLines {
        let lines = SimLines::new(
            self.lines
                .iter()
                .enumerate()
                .map(|(offset, l)| Arc::new(SimLine::new(&l.name, offset as u32, l.pull_up, clock.clone())))
                .collect(),
        );
        for (config, line) in self.lines.iter().zip(lines.lines()) {
            if let Some(leader) = config.follows.as_deref().and_then(|name| lines.line(name)) {
                leader.wire_to(line);
            }
        }
        lines
    }
}

fn default_name(number: u32) -> String {
    format!("smbus-proxy simulated bus {number}")
}

/// An address as it is written in messages: 7-bit as 0x48, 10-bit as 0x1a5.
fn show(addr: u16, ten_bit: bool) -> String {
    if ten_bit { format!("{addr:#05x}") } else { format!("{addr:#04x}") }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    bus: Vec<RawBus>,
    #[serde(default)]
    line: Vec<RawLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    name: String,
    #[serde(default)]
    pull: Pull,
    follows: Option<String>,
}

#[derive(Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Pull {
    Up,
    #[default]
    Down,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBus {
    number: u32,
    name: Option<String>,
    /// A preset name or an integer mask, told apart in validation for a clearer message.
    funcs: Option<toml::Value>,
    speed_khz: Option<u32>,
    #[serde(default)]
    nack: Vec<u16>,
    #[serde(default)]
    fail_every: u64,
    /// An errno name or number.
    fail_errno: Option<toml::Value>,
    #[serde(default)]
    device: Vec<RawDevice>,
    replay: Option<RawReplay>,
}

/// A bus's `[bus.replay]`: a trace in place of every device.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReplay {
    trace: PathBuf,
    mode: ReplayModeName,
    trace_bus: Option<u32>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ReplayModeName {
    Strict,
    Register,
}

impl From<ReplayModeName> for ReplayMode {
    fn from(name: ReplayModeName) -> ReplayMode {
        match name {
            ReplayModeName::Strict => ReplayMode::Strict,
            ReplayModeName::Register => ReplayMode::Register,
        }
    }
}

/// Flat rather than an enum tagged by `model`: serde cannot deny unknown fields in a
/// flattened enum, and a misplaced field deserves its own message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    model: ModelName,
    addr: u16,
    #[serde(default)]
    ten_bit: bool,
    #[serde(default)]
    busy: bool,
    reset: Option<String>,
    enable: Option<String>,
    registers: Option<Vec<u8>>,
    register: Option<Vec<RawRegister>>,
    byte_order: Option<ByteOrderName>,
    auto_increment: Option<bool>,
    contents: Option<Vec<u8>>,
    write_cycle_us: Option<u32>,
    inputs: Option<u16>,
    int: Option<String>,
    inta: Option<String>,
    intb: Option<String>,
    pins: Option<std::collections::BTreeMap<String, String>>,
    bus_volts: Option<f64>,
    current_amps: Option<f64>,
    shunt_ohms: Option<f64>,
    temperature: Option<f64>,
    humidity: Option<f64>,
    pressure: Option<f64>,
    serial: Option<u32>,
    acceleration: Option<Vec<f64>>,
    alert: Option<String>,
    panel: Option<PathBuf>,
    int1: Option<String>,
    int2: Option<String>,
    trace: Option<PathBuf>,
    mode: Option<ReplayModeName>,
    trace_bus: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegister {
    at: u8,
    #[serde(default = "eight")]
    width: u8,
    #[serde(default)]
    value: u16,
    #[serde(default)]
    read_only: bool,
    write_mask: Option<u16>,
}

fn eight() -> u8 {
    8
}

#[derive(Clone, Copy, Deserialize)]
enum ModelName {
    #[serde(rename = "register-file")]
    RegisterFile,
    #[serde(rename = "register-map")]
    RegisterMap,
    #[serde(rename = "eeprom-24c02")]
    Eeprom24c02,
    #[serde(rename = "eeprom-24c32")]
    Eeprom24c32,
    #[serde(rename = "eeprom-24c64")]
    Eeprom24c64,
    #[serde(rename = "eeprom-24c128")]
    Eeprom24c128,
    #[serde(rename = "eeprom-24c256")]
    Eeprom24c256,
    #[serde(rename = "eeprom-24c512")]
    Eeprom24c512,
    #[serde(rename = "pcf8574")]
    Pcf8574,
    #[serde(rename = "mcp23017")]
    Mcp23017,
    #[serde(rename = "ssd1306")]
    Ssd1306,
    #[serde(rename = "si4703")]
    Si4703,
    #[serde(rename = "ina219")]
    Ina219,
    #[serde(rename = "sht3x")]
    Sht3x,
    #[serde(rename = "bme280")]
    Bme280,
    #[serde(rename = "adxl345")]
    Adxl345,
    #[serde(rename = "write-log")]
    WriteLog,
    #[serde(rename = "replay")]
    Replay,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ByteOrderName {
    Big,
    Little,
}

impl RawConfig {
    fn validate(self, dir: &Path) -> Result<Config, Invalid> {
        if self.bus.is_empty() {
            return Err("no buses configured: add a [[bus]] table".into());
        }
        let mut numbers = HashSet::new();
        let mut buses = Vec::with_capacity(self.bus.len());
        for bus in self.bus {
            if !numbers.insert(bus.number) {
                return Err(format!("bus {} appears twice", bus.number).into());
            }
            buses.push(bus.validate(dir)?);
        }
        let mut lines: Vec<LineConfig> = Vec::with_capacity(self.line.len());
        for (i, line) in self.line.into_iter().enumerate() {
            let at = |problem: String| Invalid::from(problem).at(format!("line {i}"));
            if line.name.is_empty() || line.name.len() > 31 {
                return Err(at(format!("name {} must have 1 to 31 bytes, as a kernel's", quote(&line.name))));
            }
            if lines.iter().any(|l| l.name == line.name) {
                return Err(at(format!("name {} appears twice", quote(&line.name))));
            }
            lines.push(LineConfig {
                name: line.name,
                pull_up: matches!(line.pull, Pull::Up),
                follows: line.follows,
            });
        }
        // The lines a device is wired to are the lab's.
        for bus in &buses {
            for device in &bus.devices {
                let at = format!("bus {}, device {}", bus.number, show(device.addr, device.ten_bit));
                let outputs = device.model.outputs();
                let inputs = device
                    .model
                    .inputs()
                    .into_iter()
                    .chain(device.reset.as_deref())
                    .chain(device.enable.as_deref());
                let mut wired: Vec<&str> = Vec::new();
                for name in outputs.iter().copied().chain(inputs) {
                    if !lines.iter().any(|l| l.name == name) {
                        return Err(
                            Invalid::from(format!("{} is not a line of this lab", quote(name))).at(at)
                        );
                    }
                    // Inputs may share a line, as pins wired together do; an output drives its own.
                    if wired.contains(&name) && outputs.contains(&name) {
                        return Err(Invalid::from(format!(
                            "{} is driven by one of its pins and wired to another",
                            quote(name)
                        ))
                        .at(at));
                    }
                    wired.push(name);
                }
            }
        }
        // A wire joins two lines: one follows another that follows nothing, so no loop forms.
        for (i, line) in lines.iter().enumerate() {
            let Some(leader) = &line.follows else { continue };
            let at = |problem: String| Invalid::from(problem).at(format!("line {i}"));
            match lines.iter().find(|l| l.name == *leader) {
                None => {
                    return Err(at(format!("follows {}, which is not a line of this lab", quote(leader))));
                }
                Some(l) if l.name == line.name => return Err(at("follows itself".into())),
                Some(l) if l.follows.is_some() => {
                    return Err(at(format!("follows {}, which follows another line itself", quote(leader))));
                }
                Some(_) => {}
            }
        }
        Ok(Config { buses, lines })
    }
}

impl RawBus {
    fn validate(self, dir: &Path) -> Result<BusConfig, Invalid> {
        let number = self.number;
        let at = |problem: String| Invalid::from(problem).at(format!("bus {number}"));
        let funcs = match self.funcs {
            None => FUNCS_FULL,
            Some(value) => funcs(&value).map_err(at)?,
        };
        if self.speed_khz == Some(0) {
            return Err(at("speed_khz must be at least 1".into()));
        }
        if let Some(&addr) = self.nack.iter().find(|&&a| a > MAX_ADDR_10) {
            return Err(at(format!("nack address {addr:#x} is out of range 0x000–0x3FF")));
        }
        let fail_errno = match self.fail_errno {
            None => Errno::EIO,
            Some(value) => errno(&value).ok_or_else(|| {
                at(format!("fail_errno {} is not an errno name or number", show_value(&value)))
            })?,
        };
        let mut seen = HashSet::new();
        let mut devices = Vec::with_capacity(self.device.len());
        for raw in self.device {
            let device = raw
                .validate(number, dir)
                .map_err(|e| e.at(format!("bus {number}, device {}", show(raw.addr, raw.ten_bit))))?;
            if !seen.insert((device.addr, device.ten_bit)) {
                let addr = show(device.addr, device.ten_bit);
                return Err(Invalid::from(format!("address {addr} appears twice"))
                    .at(format!("bus {number}, device {addr}")));
            }
            devices.push(device);
        }
        let replay = match self.replay {
            Some(_) if !devices.is_empty() => {
                return Err(at(
                    "a bus with a [bus.replay] has no other devices: the replay answers for all".into()
                ));
            }
            Some(r) => Some(
                Replay::load(&dir.join(&r.trace), r.mode.into(), r.trace_bus.unwrap_or(number), None)
                    .map_err(|e| Invalid::from(e).at(format!("bus {number}")))?,
            ),
            None => None,
        };
        Ok(BusConfig {
            replay,
            number,
            name: self.name.unwrap_or_else(|| default_name(number)),
            funcs,
            speed_khz: self.speed_khz,
            nack: self.nack,
            fail_every: self.fail_every,
            fail_errno,
            devices,
        })
    }
}

fn funcs(value: &toml::Value) -> Result<u64, String> {
    let known = "a preset (full, bcm2835, i801) or an integer mask";
    match value {
        toml::Value::String(name) => PRESETS
            .iter()
            .find(|(preset, _)| preset == name)
            .map(|&(_, mask)| mask)
            .ok_or_else(|| format!("funcs {} is not {known}", quote(name))),
        toml::Value::Integer(mask) => {
            u64::try_from(*mask).map_err(|_| format!("funcs {mask} is not {known}"))
        }
        other => Err(format!("funcs must be {known}, not a {}", other.type_str())),
    }
}

fn errno(value: &toml::Value) -> Option<Errno> {
    match value {
        toml::Value::String(name) => Errno::parse(name),
        toml::Value::Integer(n) => Errno::parse(&n.to_string()),
        _ => None,
    }
}

fn show_value(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => quote(s).to_string(),
        toml::Value::Integer(n) => n.to_string(),
        other => format!("(a {})", other.type_str()),
    }
}

impl RawDevice {
    fn validate(&self, bus: u32, dir: &Path) -> Result<DeviceConfig, Invalid> {
        let addr = self.addr;
        if self.ten_bit && addr > MAX_ADDR_10 {
            return Err(format!("addr {addr:#05x} is out of range 0x000–0x3FF").into());
        }
        if !self.ten_bit && addr > MAX_ADDR_7 {
            return Err(
                format!("addr {addr:#04x} is out of range 0x00–0x7F (set ten_bit for 0x000–0x3FF)").into()
            );
        }
        let model = self.model(bus, dir)?;
        // The settings each model takes; any other one is a mistake worth naming.
        let takes: &[&str] = match model {
            Model::RegisterFile { .. } => &["registers"],
            Model::RegisterMap { .. } => &["register", "byte_order", "auto_increment"],
            Model::Eeprom { .. } => &["contents", "write_cycle_us"],
            Model::Pcf8574 { .. } => &["inputs", "int", "pins"],
            Model::Mcp23017 { .. } => &["inputs", "inta", "intb", "pins"],
            Model::Ssd1306 { .. } => &["panel"],
            Model::Si4703 => &[],
            Model::Ina219 { .. } => &["bus_volts", "current_amps", "shunt_ohms"],
            Model::Sht3x { .. } => &["temperature", "humidity", "serial", "alert"],
            Model::Bme280 { .. } => &["temperature", "pressure", "humidity"],
            Model::Adxl345 { .. } => &["acceleration", "int1", "int2"],
            Model::WriteLog => &[],
            Model::Replay(_) => &["trace", "mode", "trace_bus"],
        };
        let given = [
            ("registers", self.registers.is_some()),
            ("register", self.register.is_some()),
            ("byte_order", self.byte_order.is_some()),
            ("auto_increment", self.auto_increment.is_some()),
            ("contents", self.contents.is_some()),
            ("write_cycle_us", self.write_cycle_us.is_some()),
            ("inputs", self.inputs.is_some()),
            ("int", self.int.is_some()),
            ("inta", self.inta.is_some()),
            ("intb", self.intb.is_some()),
            ("pins", self.pins.is_some()),
            ("bus_volts", self.bus_volts.is_some()),
            ("current_amps", self.current_amps.is_some()),
            ("shunt_ohms", self.shunt_ohms.is_some()),
            ("temperature", self.temperature.is_some()),
            ("humidity", self.humidity.is_some()),
            ("pressure", self.pressure.is_some()),
            ("serial", self.serial.is_some()),
            ("acceleration", self.acceleration.is_some()),
            ("alert", self.alert.is_some()),
            ("panel", self.panel.is_some()),
            ("int1", self.int1.is_some()),
            ("int2", self.int2.is_some()),
            ("trace", self.trace.is_some()),
            ("mode", self.mode.is_some()),
            ("trace_bus", self.trace_bus.is_some()),
        ];
        if let Some((field, _)) = given.iter().find(|&&(field, set)| set && !takes.contains(&field)) {
            let hint = match takes {
                [] => "it takes no settings".to_owned(),
                [one] => format!("use {one}"),
                many => format!("it takes {}", many.join(", ")),
            };
            return Err(format!("{field} is not a {} setting ({hint})", model.name()).into());
        }
        Ok(DeviceConfig {
            addr,
            ten_bit: self.ten_bit,
            busy: self.busy,
            model,
            reset: self.reset.clone(),
            enable: self.enable.clone(),
        })
    }

    /// The model with its own settings checked; settings of other models are left for the
    /// caller to name.
    fn model(&self, bus: u32, dir: &Path) -> Result<Model, Invalid> {
        let eeprom = |part: EepromPart| {
            let contents = self.contents.clone().unwrap_or_default();
            if contents.len() > part.size() {
                return Err(format!("contents has {} bytes; the chip holds {}", contents.len(), part.size()));
            }
            let write_cycle = self
                .write_cycle_us
                .map_or(crate::devices::WRITE_CYCLE, |us| Duration::from_micros(u64::from(us)));
            Ok(Model::Eeprom { part, contents, write_cycle })
        };
        Ok(match self.model {
            ModelName::RegisterFile => {
                let registers = self.registers.clone().unwrap_or_default();
                if registers.len() > REGISTER_FILE {
                    return Err(format!(
                        "registers has {} bytes; the chip holds {REGISTER_FILE}",
                        registers.len()
                    )
                    .into());
                }
                Model::RegisterFile { registers }
            }
            ModelName::RegisterMap => Model::RegisterMap {
                byte_order: match self.byte_order {
                    None | Some(ByteOrderName::Big) => ByteOrder::Big,
                    Some(ByteOrderName::Little) => ByteOrder::Little,
                },
                auto_increment: self.auto_increment.unwrap_or(false),
                registers: registers(self.register.as_deref().unwrap_or_default())?,
            },
            ModelName::Eeprom24c02 => eeprom(EepromPart::C02)?,
            ModelName::Eeprom24c32 => eeprom(EepromPart::C32)?,
            ModelName::Eeprom24c64 => eeprom(EepromPart::C64)?,
            ModelName::Eeprom24c128 => eeprom(EepromPart::C128)?,
            ModelName::Eeprom24c256 => eeprom(EepromPart::C256)?,
            ModelName::Eeprom24c512 => eeprom(EepromPart::C512)?,
            ModelName::Pcf8574 => {
                let inputs = match self.inputs {
                    None => 0xFF,
                    Some(inputs) => u8::try_from(inputs)
                        .map_err(|_| format!("inputs {inputs:#x} does not fit its 8 pins (0x00–0xFF)"))?,
                };
                Model::Pcf8574 { inputs, int: self.int.clone(), pins: self.pins(8)? }
            }
            ModelName::Mcp23017 => Model::Mcp23017 {
                inputs: self.inputs.unwrap_or(0xFFFF),
                inta: self.inta.clone(),
                intb: self.intb.clone(),
                pins: self.pins(16)?,
            },
            ModelName::Ssd1306 => Model::Ssd1306 { panel: self.panel.as_ref().map(|p| dir.join(p)) },
            ModelName::Si4703 => Model::Si4703,
            ModelName::WriteLog => Model::WriteLog,
            ModelName::Ina219 => Model::Ina219 {
                bus_volts: in_range("bus_volts", self.bus_volts.unwrap_or(0.0), 0.0, 32.0, "V")?,
                current_amps: in_range("current_amps", self.current_amps.unwrap_or(0.0), -1e3, 1e3, "A")?,
                shunt_ohms: match self.shunt_ohms.unwrap_or(0.1) {
                    ohms if ohms > 0.0 && ohms.is_finite() => ohms,
                    ohms => return Err(format!("shunt_ohms {ohms} must be a finite value above 0 Ω").into()),
                },
            },
            ModelName::Sht3x => Model::Sht3x {
                temperature: in_range("temperature", self.temperature.unwrap_or(25.0), -45.0, 130.0, "°C")?,
                humidity: in_range("humidity", self.humidity.unwrap_or(50.0), 0.0, 100.0, "%RH")?,
                serial: self.serial.unwrap_or(0),
                alert: self.alert.clone(),
            },
            ModelName::Bme280 => Model::Bme280 {
                temperature: in_range("temperature", self.temperature.unwrap_or(25.0), -40.0, 85.0, "°C")?,
                pressure: in_range("pressure", self.pressure.unwrap_or(1013.25), 300.0, 1100.0, "hPa")?,
                humidity: in_range("humidity", self.humidity.unwrap_or(50.0), 0.0, 100.0, "%RH")?,
            },
            ModelName::Adxl345 => {
                let acceleration = match self.acceleration.as_deref() {
                    None => [0.0, 0.0, 1.0],
                    Some(&[x, y, z]) => [
                        in_range("acceleration x", x, -16.0, 16.0, "g")?,
                        in_range("acceleration y", y, -16.0, 16.0, "g")?,
                        in_range("acceleration z", z, -16.0, 16.0, "g")?,
                    ],
                    Some(other) => {
                        return Err(format!(
                            "acceleration has {} values; it takes [x, y, z] in g",
                            other.len()
                        )
                        .into());
                    }
                };
                Model::Adxl345 { acceleration, int1: self.int1.clone(), int2: self.int2.clone() }
            }
            ModelName::Replay => {
                let (Some(trace), Some(mode)) = (&self.trace, self.mode) else {
                    return Err("a replay needs trace (the file) and mode (strict or register)".into());
                };
                let device = Some((self.addr, self.ten_bit));
                Model::Replay(Replay::load(
                    &dir.join(trace),
                    mode.into(),
                    self.trace_bus.unwrap_or(bus),
                    device,
                )?)
            }
        })
    }
}

impl RawDevice {
    /// `pins`, each a pin number below `count` and a line's name.
    fn pins(&self, count: u8) -> Result<Vec<(u8, String)>, String> {
        let mut pins = Vec::new();
        for (pin, line) in self.pins.iter().flatten() {
            match pin.parse::<u8>() {
                Ok(p) if p < count => pins.push((p, line.clone())),
                _ => return Err(format!("pins: {} is not a pin, 0 to {}", quote(pin), count - 1)),
            }
        }
        Ok(pins)
    }
}

/// A measured value the sensor's 16-bit output can represent.
fn in_range(field: &str, value: f64, min: f64, max: f64, unit: &str) -> Result<f64, String> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{field} {value} is out of range {min}–{max} {unit}"))
    }
}

/// A register map's `[[bus.device.register]]` tables.
fn registers(raw: &[RawRegister]) -> Result<Vec<Register>, Invalid> {
    if raw.is_empty() {
        return Err("a register-map needs at least one [[bus.device.register]]".into());
    }
    let mut seen = HashSet::new();
    raw.iter()
        .map(|r| {
            let at = |problem: String| Invalid::from(problem).at(format!("register {:#04x}", r.at));
            if !seen.insert(r.at) {
                return Err(at("appears twice".into()));
            }
            let max: u16 = match r.width {
                8 => 0xFF,
                16 => 0xFFFF,
                other => return Err(at(format!("width {other} is not 8 or 16"))),
            };
            let digits = usize::from(r.width / 4) + 2;
            let fits = |field: &str, v: u16| {
                if v > max {
                    Err(at(format!("{field} {v:#x} does not fit in {} bits (0–{max:#0digits$x})", r.width)))
                } else {
                    Ok(v)
                }
            };
            Ok(Register {
                at: r.at,
                wide: r.width == 16,
                value: fits("value", r.value)?,
                read_only: r.read_only,
                write_mask: fits("write_mask", r.write_mask.unwrap_or(max))?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error with its causes, as a program would print it.
    fn chain(e: &(dyn std::error::Error + 'static)) -> String {
        std::iter::successors(Some(e), |e| e.source()).map(|e| e.to_string()).collect::<Vec<_>>().join(": ")
    }

    fn error(toml: &str) -> String {
        chain(&Config::parse(toml).unwrap_err())
    }

    #[test]
    fn example_file_parses_and_uses_every_model() {
        let config = Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lab.toml")).unwrap();
        let models: HashSet<_> =
            config.buses.iter().flat_map(|b| &b.devices).map(|d| d.model.name()).collect();
        assert_eq!(
            models,
            HashSet::from([
                "register-file",
                "register-map",
                "eeprom-24c02",
                "eeprom-24c32",
                "pcf8574",
                "mcp23017",
                "ssd1306",
                "si4703",
                "ina219",
                "sht3x",
                "bme280",
                "adxl345",
                "replay"
            ])
        );
        assert!(config.buses.iter().any(|b| b.replay.is_some()), "a bus replayed whole");
        assert_eq!(config.build().len(), config.buses.len());
    }

    #[test]
    fn lines_and_their_wires() {
        let lab = "[[bus]]\nnumber = 1\n";
        let config = Config::parse(&format!(
            "{lab}[[line]]\nname = \"out\"\n[[line]]\nname = \"in\"\npull = \"up\"\nfollows = \"out\"\n"
        ))
        .unwrap();
        let lines = config.build_lines(&Clock::real());
        let (out, input) = (lines.line("out").unwrap(), lines.line("in").unwrap());
        assert!(!input.level(), "driven by the wire, not its pull-up");
        out.request(crate::lines::LineSettings::output(true), None).unwrap();
        assert!(input.level());
        let bad = |lines: &str| error(&format!("{lab}{lines}"));
        assert_eq!(
            bad("[[line]]\nname = \"a\"\nfollows = \"b\"\n"),
            "line 0: follows \"b\", which is not a line of this lab"
        );
        assert_eq!(bad("[[line]]\nname = \"a\"\nfollows = \"a\"\n"), "line 0: follows itself");
        assert_eq!(
            bad(
                "[[line]]\nname = \"a\"\n[[line]]\nname = \"b\"\nfollows = \"a\"\n[[line]]\nname = \"c\"\nfollows = \"b\"\n"
            ),
            "line 2: follows \"b\", which follows another line itself"
        );
        assert_eq!(
            bad("[[line]]\nname = \"\"\n"),
            "line 0: name \"\" must have 1 to 31 bytes, as a kernel's"
        );
        assert_eq!(
            bad("[[line]]\nname = \"a\"\n[[line]]\nname = \"a\"\n"),
            "line 1: name \"a\" appears twice"
        );
    }

    #[test]
    fn pins_and_the_lines_they_are_wired_to() {
        let lab =
            |device: &str| format!("[[bus]]\nnumber = 1\n[[bus.device]]\n{device}\n[[line]]\nname = \"a\"\n");
        let ok = |device: &str| Config::parse(&lab(device)).unwrap();
        let bad = |device: &str| error(&lab(device));
        ok("model = \"mcp23017\"\naddr = 0x20\npins = { 0 = \"a\", 15 = \"a\" }");
        assert_eq!(
            bad("model = \"mcp23017\"\naddr = 0x20\ninta = \"a\"\npins = { 3 = \"a\" }"),
            "bus 1, device 0x20: \"a\" is driven by one of its pins and wired to another"
        );
        assert_eq!(
            bad("model = \"adxl345\"\naddr = 0x53\nint1 = \"a\"\nint2 = \"a\""),
            "bus 1, device 0x53: \"a\" is driven by one of its pins and wired to another"
        );
        assert_eq!(
            bad("model = \"pcf8574\"\naddr = 0x20\nint = \"b\""),
            "bus 1, device 0x20: \"b\" is not a line of this lab"
        );
        assert_eq!(
            bad("model = \"mcp23017\"\naddr = 0x20\npins = { 16 = \"a\" }"),
            "bus 1, device 0x20: pins: \"16\" is not a pin, 0 to 15"
        );
        assert_eq!(
            bad("model = \"pcf8574\"\naddr = 0x20\ninputs = 0x1FF"),
            "bus 1, device 0x20: inputs 0x1ff does not fit its 8 pins (0x00–0xFF)"
        );
        assert_eq!(
            bad("model = \"adxl345\"\naddr = 0x53\nacceleration = [0.0, 1.0]"),
            "bus 1, device 0x53: acceleration has 2 values; it takes [x, y, z] in g"
        );
        assert_eq!(
            bad("model = \"adxl345\"\naddr = 0x53\nacceleration = [0.0, 1.0, 17.0]"),
            "bus 1, device 0x53: acceleration z 17 is out of range -16–16 g"
        );
        assert_eq!(
            bad("model = \"adxl345\"\naddr = 0x53\ninta = \"a\""),
            "bus 1, device 0x53: inta is not a adxl345 setting (it takes acceleration, int1, int2)"
        );
    }

    #[test]
    fn defaults() {
        let config =
            Config::parse("[[bus]]\nnumber = 3\n[[bus.device]]\nmodel = \"pcf8574\"\naddr = 0x20\n").unwrap();
        let bus = &config.buses[0];
        assert_eq!(bus.name, "smbus-proxy simulated bus 3");
        assert_eq!(bus.funcs, FUNCS_FULL);
        assert_eq!((bus.speed_khz, bus.fail_every, bus.fail_errno), (None, 0, Errno::EIO));
        assert!(bus.nack.is_empty());
        assert_eq!(
            bus.devices,
            [DeviceConfig {
                addr: 0x20,
                ten_bit: false,
                busy: false,
                model: Model::Pcf8574 { inputs: 0xFF, int: None, pins: Vec::new() },
                reset: None,
                enable: None,
            }]
        );
    }

    #[test]
    fn every_field() {
        let config = Config::parse(
            r#"
            [[bus]]
            number = 7
            name = "bench"
            funcs = 0x0F
            speed_khz = 100
            nack = [0x30, 0x2AA]
            fail_every = 5
            fail_errno = 121

            [[bus.device]]
            model = "register-file"
            addr = 0x1A5
            ten_bit = true
            busy = true
            registers = [1, 2]

            [[bus.device]]
            model = "eeprom-24c02"
            addr = 0x50
            contents = [0xAA]
            "#,
        )
        .unwrap();
        let bus = &config.buses[0];
        assert_eq!((bus.number, bus.name.as_str(), bus.funcs), (7, "bench", 0x0F));
        assert_eq!((bus.speed_khz, &bus.nack[..]), (Some(100), &[0x30, 0x2AA][..]));
        assert_eq!((bus.fail_every, bus.fail_errno), (5, Errno::EREMOTEIO));
        assert_eq!(
            bus.devices[0],
            DeviceConfig {
                addr: 0x1A5,
                ten_bit: true,
                busy: true,
                model: Model::RegisterFile { registers: vec![1, 2] },
                reset: None,
                enable: None,
            }
        );
        assert_eq!(
            bus.devices[1].model,
            Model::Eeprom {
                part: EepromPart::C02,
                contents: vec![0xAA],
                write_cycle: Duration::from_millis(5)
            }
        );
    }

    #[test]
    fn presets() {
        for (name, mask) in PRESETS {
            let config = Config::parse(&format!("[[bus]]\nnumber = 1\nfuncs = \"{name}\"\n")).unwrap();
            assert_eq!(config.buses[0].funcs, *mask);
        }
        assert_eq!(FUNCS_FULL & SMBUS_PEC, SMBUS_PEC);
        // What i2cdetect -F shows on a Raspberry Pi.
        assert_eq!(FUNCS_BCM2835, 0x0eff_0009);
        assert_eq!(FUNCS_BCM2835 & (SMBUS_READ_BLOCK_DATA | SMBUS_BLOCK_PROC_CALL), 0);
        assert_eq!(FUNCS_I801 & I2C, 0);
    }

    #[test]
    fn demo_is_valid() {
        let demo = Config::demo();
        let addrs: Vec<_> = demo.buses[0].devices.iter().map(|d| (d.addr, d.model.name())).collect();
        assert_eq!(
            addrs,
            [
                (0x10, "si4703"),
                (0x20, "pcf8574"),
                (0x48, "register-file"),
                (0x50, "eeprom-24c02"),
                (0x76, "bme280")
            ]
        );
        assert_eq!(demo.buses[0].number, 1);
        assert_eq!(demo.buses[0].funcs, FUNCS_FULL);
    }

    #[test]
    fn validation_messages() {
        let dev = |body: &str| format!("[[bus]]\nnumber = 1\n[[bus.device]]\n{body}\n");
        const REG: &str = "[[bus.device.register]]\n";
        for (toml, message) in [
            ("", "no buses configured: add a [[bus]] table".to_owned()),
            ("[[bus]]\nnumber = 1\n[[bus]]\nnumber = 1\n", "bus 1 appears twice".into()),
            (
                &format!(
                    "{}[[bus.device]]\nmodel = \"pcf8574\"\naddr = 0x48\n",
                    dev("model = \"si4703\"\naddr = 0x48")
                ),
                "bus 1, device 0x48: address 0x48 appears twice".into(),
            ),
            (
                &dev("model = \"si4703\"\naddr = 0x80"),
                "bus 1, device 0x80: addr 0x80 is out of range 0x00–0x7F (set ten_bit for 0x000–0x3FF)"
                    .into(),
            ),
            (
                &dev("model = \"si4703\"\naddr = 0x400\nten_bit = true"),
                "bus 1, device 0x400: addr 0x400 is out of range 0x000–0x3FF".into(),
            ),
            (
                &dev(&format!("model = \"register-file\"\naddr = 0x48\nregisters = {:?}", vec![0; 257])),
                "bus 1, device 0x48: registers has 257 bytes; the chip holds 256".into(),
            ),
            (
                &dev("model = \"pcf8574\"\naddr = 0x20\nregisters = [1]"),
                "bus 1, device 0x20: registers is not a pcf8574 setting (it takes inputs, int, pins)".into(),
            ),
            (
                &dev("model = \"si4703\"\naddr = 0x10\ncontents = [1]"),
                "bus 1, device 0x10: contents is not a si4703 setting (it takes no settings)".into(),
            ),
            (
                &dev(&format!("model = \"register-map\"\naddr = 0x48\ncontents = [1]\n{REG}at = 0")),
                "bus 1, device 0x48: contents is not a register-map setting (it takes register, byte_order, \
                 auto_increment)"
                    .into(),
            ),
            (
                &dev("model = \"register-map\"\naddr = 0x48"),
                "bus 1, device 0x48: a register-map needs at least one [[bus.device.register]]".into(),
            ),
            (
                &dev(&format!("model = \"register-map\"\naddr = 0x48\n{REG}at = 1\n{REG}at = 1")),
                "bus 1, device 0x48: register 0x01: appears twice".into(),
            ),
            (
                &dev(&format!("model = \"register-map\"\naddr = 0x48\n{REG}at = 2\nwidth = 12")),
                "bus 1, device 0x48: register 0x02: width 12 is not 8 or 16".into(),
            ),
            (
                &dev(&format!("model = \"register-map\"\naddr = 0x48\n{REG}at = 2\nvalue = 0x100")),
                "bus 1, device 0x48: register 0x02: value 0x100 does not fit in 8 bits (0–0xff)".into(),
            ),
            (
                &dev(&format!("model = \"register-map\"\naddr = 0x48\n{REG}at = 3\nwrite_mask = 0x1FF")),
                "bus 1, device 0x48: register 0x03: write_mask 0x1ff does not fit in 8 bits (0–0xff)".into(),
            ),
            (
                &dev(&format!("model = \"eeprom-24c32\"\naddr = 0x50\ncontents = {:?}", vec![0; 4097])),
                "bus 1, device 0x50: contents has 4097 bytes; the chip holds 4096".into(),
            ),
            (
                &dev("model = \"sht3x\"\naddr = 0x44\ntemperature = 140.5"),
                "bus 1, device 0x44: temperature 140.5 is out of range -45–130 °C".into(),
            ),
            (
                &dev("model = \"sht3x\"\naddr = 0x44\nhumidity = -1.0"),
                "bus 1, device 0x44: humidity -1 is out of range 0–100 %RH".into(),
            ),
            (
                &dev("model = \"ina219\"\naddr = 0x40\nshunt_ohms = 0.0"),
                "bus 1, device 0x40: shunt_ohms 0 must be a finite value above 0 Ω".into(),
            ),
            (
                &dev("model = \"ina219\"\naddr = 0x40\nbus_volts = 33.0"),
                "bus 1, device 0x40: bus_volts 33 is out of range 0–32 V".into(),
            ),
            (
                &dev("model = \"sht3x\"\naddr = 0x44\ninputs = 1"),
                "bus 1, device 0x44: inputs is not a sht3x setting (it takes temperature, humidity, serial, alert)"
                    .into(),
            ),
            (
                "[[bus]]\nnumber = 1\nfail_errno = \"EFOO\"\n",
                "bus 1: fail_errno \"EFOO\" is not an errno name or number".into(),
            ),
            (
                "[[bus]]\nnumber = 1\nfail_errno = 0\n",
                "bus 1: fail_errno 0 is not an errno name or number".into(),
            ),
            (
                "[[bus]]\nnumber = 2\nfuncs = \"rpi\"\n",
                "bus 2: funcs \"rpi\" is not a preset (full, bcm2835, i801) or an integer mask".into(),
            ),
            (
                "[[bus]]\nnumber = 2\nfuncs = -1\n",
                "bus 2: funcs -1 is not a preset (full, bcm2835, i801) or an integer mask".into(),
            ),
            (
                "[[bus]]\nnumber = 2\nfuncs = true\n",
                "bus 2: funcs must be a preset (full, bcm2835, i801) or an integer mask, not a boolean"
                    .into(),
            ),
            ("[[bus]]\nnumber = 1\nspeed_khz = 0\n", "bus 1: speed_khz must be at least 1".into()),
            (
                "[[bus]]\nnumber = 1\nnack = [0x400]\n",
                "bus 1: nack address 0x400 is out of range 0x000–0x3FF".into(),
            ),
        ] {
            assert_eq!(error(toml), message, "{toml}");
        }
    }

    #[test]
    fn syntax_errors_come_from_toml() {
        let unknown_model = error("[[bus]]\nnumber = 1\n[[bus.device]]\nmodel = \"lm75\"\naddr = 0x48\n");
        assert!(
            unknown_model.contains(
                "unknown variant `lm75`, expected one of `register-file`, `register-map`, `eeprom-24c02`, \
                 `eeprom-24c32`, `eeprom-24c64`, `eeprom-24c128`, `eeprom-24c256`, `eeprom-24c512`, `pcf8574`, \
                 `mcp23017`, `ssd1306`, `si4703`, `ina219`, `sht3x`, `bme280`, `adxl345`, `write-log`, `replay`"
            ),
            "{unknown_model}"
        );
        let unknown_field = error("[[bus]]\nnumber = 1\nspeed = 100\n");
        assert!(unknown_field.contains("unknown field `speed`"), "{unknown_field}");
        let too_big = error(
            "[[bus]]\nnumber = 1\n[[bus.device]]\nmodel = \"register-file\"\naddr = 0x48\nregisters = [256]\n",
        );
        assert!(too_big.contains("256"), "{too_big}");
        assert!(error("[[bus]]\nname = \"x\"\n").contains("missing field `number`"));
        // One table where a lab has a list: the line, and what to write.
        assert_eq!(
            error("# a lab\n[bus]\nnumber = 1\n"),
            "line 2: `[bus]` is one table, and a lab lists them: write `[[bus]]`, once for each"
        );
        assert_eq!(
            error(
                "[[bus]]\nnumber = 1\n\n [bus.device]  # the EEPROM\nmodel = \"eeprom-24c02\"\naddr = 0x50\n"
            ),
            "line 4: `[bus.device]` is one table, and a lab lists them: write `[[bus.device]]`, once for each"
        );
    }

    #[test]
    fn load_names_the_path() {
        let missing = Path::new("/nonexistent/smbus-proxy-lab.toml");
        let message = chain(&Config::load(missing).unwrap_err());
        assert!(message.starts_with("cannot read /nonexistent/smbus-proxy-lab.toml: "), "{message}");

        let path = std::env::temp_dir().join(format!("smbus-proxy-sim-{}.toml", std::process::id()));
        std::fs::write(&path, "[[bus]]\nnumber = 1\nspeed_khz = 0\n").unwrap();
        let message = chain(&Config::load(&path).unwrap_err());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(message, format!("{}: bus 1: speed_khz must be at least 1", path.display()));
    }

    #[test]
    fn replays_name_what_is_wrong_with_their_trace() {
        let dir = std::env::temp_dir().join(format!("smbus-proxy-replay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let line =
            "2026-12-02T03:26:41.507101Z i2c-1 read_byte_data 0x48 reg=0x00 -> 0x19 (57 us) - 01c73649";
        std::fs::write(dir.join("ok.trace"), format!("{}\n{line}\n", smbus_proxy_wire::trace::HEADER))
            .unwrap();
        let lost = format!(
            "{}\n{line}\n-- 3 events lost: the watcher fell behind --\n",
            smbus_proxy_wire::trace::HEADER
        );
        std::fs::write(dir.join("lost.trace"), lost).unwrap();
        let load = |toml: &str| {
            let path = dir.join("lab.toml");
            std::fs::write(&path, toml).unwrap();
            Config::load(&path).map_err(|e| chain(&e).replace(&format!("{}/", dir.display()), ""))
        };
        let device = |extra: &str| {
            format!("[[bus]]\nnumber = 1\n[[bus.device]]\nmodel = \"replay\"\naddr = 0x48\n{extra}")
        };
        let config = load(&device("trace = \"ok.trace\"\nmode = \"strict\"\n")).unwrap();
        let Model::Replay(replay) = &config.buses[0].devices[0].model else { panic!() };
        assert_eq!((replay.recorded.len(), replay.recorded[0].line), (1, 2));
        assert_eq!(
            load(&device("mode = \"strict\"\n")).unwrap_err(),
            "lab.toml: bus 1, device 0x48: a replay needs trace (the file) and mode (strict or register)"
        );
        assert!(
            load(&device("trace = \"none.trace\"\nmode = \"strict\"\n"))
                .unwrap_err()
                .contains("cannot read none.trace")
        );
        assert_eq!(
            load(&device("trace = \"ok.trace\"\nmode = \"strict\"\ntrace_bus = 2\n")).unwrap_err(),
            "lab.toml: bus 1, device 0x48: replay: ok.trace has no operations on bus 2 to 0x48 (it has operations on bus 1); \
             trace_bus chooses the bus"
        );
        assert_eq!(
            load(&device("trace = \"lost.trace\"\nmode = \"strict\"\n")).unwrap_err(),
            "lab.toml: bus 1, device 0x48: replay: lost.trace: line 3: the recording lost 3 operations here; a strict \
             replay needs them all"
        );
        assert!(
            load(&device("trace = \"lost.trace\"\nmode = \"register\"\n")).is_ok(),
            "registers need not all"
        );
        assert!(
            load(&device("trace = \"ok.trace\"\nmode = \"loose\"\n"))
                .unwrap_err()
                .contains("unknown variant `loose`")
        );
        let both = "[[bus]]\nnumber = 1\n[bus.replay]\ntrace = \"ok.trace\"\nmode = \"strict\"\n\
                    [[bus.device]]\nmodel = \"pcf8574\"\naddr = 0x20\n";
        assert_eq!(
            load(both).unwrap_err(),
            "lab.toml: bus 1: a bus with a [bus.replay] has no other devices: the replay answers for all"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
