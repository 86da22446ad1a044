//! Access policy: which operations each bus accepts, beyond what is merely valid.
//!
//! A policy narrows what authenticated clients may do, per bus: the addresses they may talk
//! to, whether they may write, claim addresses a kernel driver owns (`force`) or skip PEC,
//! and how long a transaction may be. It is read from a TOML file:
//!
//! ```toml
//! # Buses without a table of their own follow [default]; with no [default], they are open.
//! [default]
//! read_only = true
//!
//! [bus.1]
//! addresses = ["0x48", "0x50-0x57"]   # 7-bit; "ten_bit_addresses" for 10-bit ones
//! read_only = "registers"             # true: nothing but reads; "registers": reads of registers too
//! force = false                       # refuse I2C_SLAVE_FORCE
//! pec = true                          # every SMBus operation must use PEC
//! max_ops = 64                        # operations per transaction
//! watch = false                       # refuse Watch (seeing every client's operations)
//! ```
//!
//! GPIO lines have rules of their own: whether a client may request a line as an input
//! (`read`), as an output (`drive`), and with edge detection (`edges`):
//!
//! ```toml
//! # Lines without a table of their own follow [lines]; with no [lines], they are open.
//! [lines]
//! drive = false
//!
//! [line.bme280-reset]
//! drive = true
//! ```
//!
//! A transaction that breaks a rule is refused whole, before it reaches the bus, with
//! PERMISSION_DENIED naming the rule and the operation; so is a request for lines.

use serde::Deserialize;
use smbus_proxy_wire::quote::{clip, quote};
use smbus_proxy_wire::{Op, Sends, Step};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

/// Every bus's rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    default: Option<Rules>,
    buses: BTreeMap<u32, Rules>,
    /// `[lines]`, and each `[line.NAME]`.
    lines_default: Option<LineRules>,
    lines: BTreeMap<String, LineRules>,
}

/// What clients may do with a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineRules {
    /// Request it as an input.
    #[serde(default = "yes")]
    read: bool,
    /// Request it as an output.
    #[serde(default = "yes")]
    drive: bool,
    /// Detect its edges.
    #[serde(default = "yes")]
    edges: bool,
}

/// One bus's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// 7-bit addresses allowed; `None` allows all, unless only 10-bit ones are listed.
    addresses: Option<Vec<RangeInclusive<u16>>>,
    ten_bit_addresses: Option<Vec<RangeInclusive<u16>>>,
    /// The most an operation may send beyond addresses.
    sends: Sends,
    force: bool,
    pec: bool,
    max_ops: Option<usize>,
    /// Whether clients may watch the bus's operations, every client's.
    watch: bool,
}

/// A transaction the policy refuses: the rule it broke, in words for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a policy was refused: the file, then the key at fault and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// A problem inside the file.
    #[error("policy {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The problem.
        #[source]
        error: Box<PolicyError>,
    },
    /// Not TOML, or not a policy's shape (an unknown key, a wrong type): TOML's words, clipped.
    #[error("{}", clip(.0.message().trim_end()))]
    Syntax(toml::de::Error),
    /// A key whose value cannot be used.
    #[error("{key}: {problem}")]
    Invalid {
        /// The key, in full: `bus.1.addresses`.
        key: String,
        /// What is wrong with its value.
        problem: String,
    },
}

fn invalid(key: impl Into<String>, problem: String) -> PolicyError {
    PolicyError::Invalid { key: key.into(), problem }
}

impl Policy {
    /// Reads a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = smbus_proxy_sim::file::read_to_string(path, smbus_proxy_sim::file::SETTINGS_MAX)
            .map_err(|error| PolicyError::Read { path: path.to_owned(), error })?;
        Self::parse(&text)
            .map_err(|error| PolicyError::File { path: path.to_owned(), error: Box::new(error) })
    }

    /// Parses a policy from TOML; the error names the key at fault.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let file: File = toml::from_str(text).map_err(PolicyError::Syntax)?;
        let default = file.default.map(|r| r.rules("default")).transpose()?;
        let mut buses = BTreeMap::new();
        for (key, table) in file.bus {
            let n: u32 = key.parse().map_err(|_| {
                invalid(format!("bus.{}", quote(&key)), "a bus is named by its number".into())
            })?;
            buses.insert(n, table.rules(&format!("bus.{n}"))?);
        }
        Ok(Policy { default, buses, lines_default: file.lines, lines: file.line })
    }

    /// The lines the policy names, so the server can refuse one it does not offer.
    pub fn lines(&self) -> impl Iterator<Item = &str> + '_ {
        self.lines.keys().map(String::as_str)
    }

    /// Whether a client may request line `name` with `settings`.
    pub fn check_line(&self, name: &str, settings: &smbus_proxy_wire::LineSettings) -> Result<(), Violation> {
        let Some(rules) = self.lines.get(name).or(self.lines_default.as_ref()) else { return Ok(()) };
        let deny =
            |rule: &str, why: &str| Err(Violation(format!("policy: line {} has {rule}; {why}", quote(name))));
        if settings.is_output() && !rules.drive {
            return deny("drive = false", "it cannot be requested as an output");
        }
        if !settings.is_output() && !rules.read {
            return deny("read = false", "it cannot be requested as an input");
        }
        if settings.edges != smbus_proxy_wire::Edges::None && !rules.edges {
            return deny("edges = false", "its edges cannot be detected");
        }
        Ok(())
    }

    /// The buses the policy names, so the server can refuse one it does not serve.
    pub fn buses(&self) -> impl Iterator<Item = u32> + '_ {
        self.buses.keys().copied()
    }

    /// Whether clients may watch bus `bus`.
    pub fn may_watch(&self, bus: u32) -> Result<(), Violation> {
        match self.buses.get(&bus).or(self.default.as_ref()) {
            Some(rules) if !rules.watch => Err(Violation(format!(
                "policy: bus {bus} has watch = false; its operations cannot be watched"
            ))),
            _ => Ok(()),
        }
    }

    /// Whether bus `bus` accepts this transaction.
    pub fn check(&self, bus: u32, steps: &[Step]) -> Result<(), Violation> {
        match self.buses.get(&bus).or(self.default.as_ref()) {
            Some(rules) => rules.check(bus, steps),
            None => Ok(()),
        }
    }
}

impl Rules {
    fn check(&self, bus: u32, steps: &[Step]) -> Result<(), Violation> {
        let deny = |rule: &str, why: String| Err(Violation(format!("policy: bus {bus} has {rule}; {why}")));
        if let Some(max) = self.max_ops.filter(|&max| steps.len() > max) {
            return deny(
                &format!("max_ops = {max}"),
                format!("this transaction has {} operations", steps.len()),
            );
        }
        // A poll is checked as the operation it repeats; a wait touches no device.
        for (i, op) in steps.iter().enumerate().filter_map(|(i, step)| Some((i, step.op()?))) {
            for (addr, ten_bit) in op.addresses() {
                if !self.allows(addr, ten_bit) {
                    let (rule, list) = if ten_bit {
                        ("ten_bit_addresses", &self.ten_bit_addresses)
                    } else {
                        ("addresses", &self.addresses)
                    };
                    return deny(
                        &format!("{rule} = [{}]", Ranges(list.as_deref().unwrap_or(&[]))),
                        format!("ops[{i}] ({}) addresses {addr:#04x}", op.name()),
                    );
                }
            }
            let sends = op.sends();
            if sends > self.sends {
                let (rule, what) = match self.sends {
                    Sends::Nothing => ("read_only = true", "sends a command or data byte"),
                    _ => ("read_only = \"registers\"", "sends data"),
                };
                return deny(rule, format!("ops[{i}] ({}) {what}", op.name()));
            }
            match op {
                Op::Smbus { target, .. } if target.force && !self.force => {
                    return deny("force = false", format!("ops[{i}] ({}) asks for force", op.name()));
                }
                Op::Smbus { target, .. } if self.pec && !target.pec => {
                    return deny("pec = true", format!("ops[{i}] ({}) is sent without PEC", op.name()));
                }
                Op::Transfer(_) if self.pec => {
                    return deny("pec = true", format!("ops[{i}] is an I2C transfer, which carries no PEC"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn allows(&self, addr: u16, ten_bit: bool) -> bool {
        let (list, other) = if ten_bit {
            (&self.ten_bit_addresses, &self.addresses)
        } else {
            (&self.addresses, &self.ten_bit_addresses)
        };
        match list {
            Some(ranges) => ranges.iter().any(|r| r.contains(&addr)),
            // Listing only the other kind of address closes this kind.
            None => other.is_none(),
        }
    }
}

/// Address ranges as the policy file writes them.
struct Ranges<'a>(&'a [RangeInclusive<u16>]);

impl fmt::Display for Ranges<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { "" } else { ", " })?;
            if r.start() == r.end() {
                write!(f, "{:#04x}", r.start())?;
            } else {
                write!(f, "{:#04x}-{:#04x}", r.start(), r.end())?;
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default: Option<Table>,
    #[serde(default)]
    bus: BTreeMap<String, Table>,
    lines: Option<LineRules>,
    #[serde(default)]
    line: BTreeMap<String, LineRules>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    addresses: Option<Vec<String>>,
    ten_bit_addresses: Option<Vec<String>>,
    read_only: Option<ReadOnly>,
    #[serde(default = "yes")]
    force: bool,
    #[serde(default)]
    pec: bool,
    max_ops: Option<usize>,
    #[serde(default = "yes")]
    watch: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ReadOnly {
    Flag(bool),
    Level(String),
}

impl Table {
    fn rules(self, at: &str) -> Result<Rules, PolicyError> {
        let sends = match self.read_only {
            None | Some(ReadOnly::Flag(false)) => Sends::Data,
            Some(ReadOnly::Flag(true)) => Sends::Nothing,
            Some(ReadOnly::Level(level)) if level == "registers" => Sends::Register,
            Some(ReadOnly::Level(other)) => {
                return Err(invalid(
                    format!("{at}.read_only"),
                    format!("{} is not one of true, false, \"registers\"", quote(&other)),
                ));
            }
        };
        if let Some(max) = self.max_ops
            && !(1..=smbus_proxy_wire::op::MAX_OPS).contains(&max)
        {
            let range = format!("{max} is out of range 1–{}", smbus_proxy_wire::op::MAX_OPS);
            return Err(invalid(format!("{at}.max_ops"), range));
        }
        Ok(Rules {
            addresses: self.addresses.map(|l| ranges(&l, 0x7F, &format!("{at}.addresses"))).transpose()?,
            ten_bit_addresses: self
                .ten_bit_addresses
                .map(|l| ranges(&l, 0x3FF, &format!("{at}.ten_bit_addresses")))
                .transpose()?,
            sends,
            force: self.force,
            pec: self.pec,
            max_ops: self.max_ops,
            watch: self.watch,
        })
    }
}

/// Parses `["0x48", "0x50-0x57"]`.
fn ranges(list: &[String], max: u16, at: &str) -> Result<Vec<RangeInclusive<u16>>, PolicyError> {
    let number = |s: &str| {
        let s = s.trim();
        let n = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => u16::from_str_radix(hex, 16),
            None => s.parse(),
        };
        n.ok().filter(|&n| n <= max).ok_or_else(|| {
            let problem = format!(
                "{} is not an address in range 0x00-{max:#04x} (write \"0x48\" or \"0x50-0x57\")",
                quote(s)
            );
            invalid(at, problem)
        })
    };
    list.iter()
        .map(|entry| {
            let (lo, hi) = entry.split_once('-').unwrap_or((entry, entry));
            let (lo, hi) = (number(lo)?, number(hi)?);
            if lo > hi {
                return Err(invalid(at, format!("{} runs backwards", quote(entry))));
            }
            Ok(lo..=hi)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy's verdict on a transaction of these operations.
    fn check(policy: &Policy, bus: u32, ops: &[Op]) -> Result<(), Violation> {
        policy.check(bus, &ops.iter().cloned().map(Step::Op).collect::<Vec<_>>())
    }
    use smbus_proxy_wire::{Command, Msg, Target};

    fn read(addr: u16) -> Op {
        Op::smbus(addr, Command::ReadByteData { reg: 0 })
    }

    fn write(addr: u16) -> Op {
        Op::smbus(addr, Command::WriteByteData { reg: 0, value: 1 })
    }

    #[test]
    fn no_policy_allows_everything() {
        let policy = Policy::parse("").unwrap();
        assert_eq!(
            check(&policy, 1, &[write(0x48), Op::Transfer(vec![Msg::write(0x50, vec![1, 2, 3])])]),
            Ok(())
        );
    }

    #[test]
    fn addresses() {
        let policy = Policy::parse("[bus.1]\naddresses = [\"0x48\", \"0x50-0x57\"]").unwrap();
        assert_eq!(check(&policy, 1, &[read(0x48), read(0x57)]), Ok(()));
        let denied = check(&policy, 1, &[read(0x48), read(0x58)]).unwrap_err();
        assert_eq!(
            denied.0,
            "policy: bus 1 has addresses = [0x48, 0x50-0x57]; ops[1] (read_byte_data) addresses 0x58"
        );
        // A transfer is checked message by message; other buses are open.
        let transfer = Op::Transfer(vec![Msg::write(0x50, vec![0]), Msg::read(0x60, 1)]);
        assert!(
            check(&policy, 1, std::slice::from_ref(&transfer))
                .unwrap_err()
                .0
                .contains("ops[0] (transfer) addresses 0x60")
        );
        assert_eq!(check(&policy, 2, &[transfer]), Ok(()));
        // Listing 7-bit addresses closes the 10-bit ones.
        let ten = Op::Smbus {
            target: Target { addr: 0x48, ten_bit: true, ..Target::default() },
            command: Command::ReadByte,
        };
        assert!(check(&policy, 1, &[ten]).unwrap_err().0.contains("ten_bit_addresses = []"));
    }

    #[test]
    fn read_only_levels() {
        let strict = Policy::parse("[default]\nread_only = true").unwrap();
        assert_eq!(check(&strict, 3, &[Op::smbus(0x48, Command::ReadByte)]), Ok(()));
        assert_eq!(
            check(&strict, 3, &[read(0x48)]).unwrap_err().0,
            "policy: bus 3 has read_only = true; ops[0] (read_byte_data) sends a command or data byte"
        );
        let registers = Policy::parse("[default]\nread_only = \"registers\"").unwrap();
        assert_eq!(check(&registers, 3, &[read(0x48)]), Ok(()));
        assert_eq!(
            check(&registers, 3, &[write(0x48)]).unwrap_err().0,
            "policy: bus 3 has read_only = \"registers\"; ops[0] (write_byte_data) sends data"
        );
    }

    #[test]
    fn force_pec_and_max_ops() {
        let policy = Policy::parse("[bus.1]\nforce = false\npec = true\nmax_ops = 2").unwrap();
        let with = |force, pec| Op::Smbus {
            target: Target { addr: 0x48, force, pec, ..Target::default() },
            command: Command::ReadByte,
        };
        assert_eq!(check(&policy, 1, &[with(false, true)]), Ok(()));
        assert!(
            check(&policy, 1, &[with(true, true)])
                .unwrap_err()
                .0
                .contains("force = false; ops[0] (read_byte) asks for force")
        );
        assert!(
            check(&policy, 1, &[with(false, false)])
                .unwrap_err()
                .0
                .contains("pec = true; ops[0] (read_byte) is sent without PEC")
        );
        assert!(
            check(&policy, 1, &[Op::Transfer(vec![Msg::read(0x48, 1)])])
                .unwrap_err()
                .0
                .contains("carries no PEC")
        );
        assert!(
            check(&policy, 1, &vec![with(false, true); 3])
                .unwrap_err()
                .0
                .contains("max_ops = 2; this transaction has 3 operations")
        );
    }

    #[test]
    fn the_packaged_example_parses() {
        let policy = Policy::parse(include_str!("../../../packaging/policy.toml")).unwrap();
        assert_eq!(check(&policy, 1, &[write(0x48)]), Ok(()));
        assert!(check(&policy, 1, &[read(0x50)]).is_err());
        assert!(check(&policy, 2, &[read(0x50)]).unwrap_err().0.contains("read_only = true"));
    }

    #[test]
    fn bad_files_name_the_key() {
        for (text, says) in [
            (
                "[bus.1]\naddresses = [\"0x80\"]",
                "bus.1.addresses: \"0x80\" is not an address in range 0x00-0x7f",
            ),
            ("[bus.1]\naddresses = [\"0x57-0x50\"]", "runs backwards"),
            ("[bus.x]\nforce = false", "bus.\"x\": a bus is named by its number"),
            ("[bus.1]\nread_only = \"mostly\"", "bus.1.read_only: \"mostly\" is not one of"),
            ("[bus.1]\nmax_ops = 0", "bus.1.max_ops: 0 is out of range 1–1024"),
            ("[bus.1]\nwrite_only = true", "unknown field `write_only`"),
        ] {
            let err = Policy::parse(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }
}
