//! The remote i2c-tools: one argument grammar for all of them (getopt's, as i2c-tools use),
//! plus where the server is and how to prove who we are: `--server URL` (else
//! `$SMBUS_PROXY_SERVER`, else the local default), `--token-file FILE`, and for `https://`
//! `--ca FILE`, `--cert FILE` and `--key FILE` (else the `SMBUS_PROXY_*` variables).

/// The lines every tool's usage ends with: where the server is and how to prove who we are.
macro_rules! remote_usage {
    () => {
        "  --server URL names the smbus-proxy server (else $SMBUS_PROXY_SERVER, else http://127.0.0.1:50051):
    http://HOST:PORT, https://HOST:PORT, or mdns://NAME for one `smbus-proxy servers` lists
  --token-file FILE holds the server's token (else $SMBUS_PROXY_TOKEN)
  --ca FILE, --cert FILE, --key FILE: for https://, the CA of the server's certificate and this
    client's certificate and key for mutual TLS (else $SMBUS_PROXY_CA, _CERT, _KEY)"
    };
}

pub mod detect;
pub mod dump;
pub mod get;
pub mod gpio;
pub mod monitor;
pub mod servers;
pub mod set;
pub mod status;
pub mod transfer;

use smbus_proxy_client::Report;
use smbus_proxy_client::{BusInfo, Credentials, blocking::Client, server_url};
use std::process::ExitCode;

/// Parsed command line: the single-letter flags seen, the values of those that take one, and
/// the positional arguments, in order.
pub struct Args {
    pub flags: Vec<char>,
    pub positional: Vec<String>,
    pub server: String,
    pub credentials: Credentials,
    /// The values of the tool's own long options, in order.
    own: Vec<(&'static str, String)>,
}

/// Why parsing stopped before there was anything to run.
pub enum Stop {
    /// `--help`: the usage goes to stdout, and the tool succeeds.
    Help,
    /// A bad command line: this error, then the usage, on stderr.
    Bad(String),
}

impl Stop {
    /// Says what it has to, and gives the tool's exit status.
    pub fn exit(self, usage: &str) -> ExitCode {
        match self {
            Stop::Help => {
                println!("{usage}");
                ExitCode::SUCCESS
            }
            Stop::Bad(message) => usage_error(&message, usage),
        }
    }
}

impl From<String> for Stop {
    fn from(message: String) -> Stop {
        Stop::Bad(message)
    }
}

impl Args {
    /// Parses `args` against `letters` (the flags this tool knows, as in getopt's optstring,
    /// without values). Options may come anywhere, bundled (`-ya`), until `--`.
    pub fn parse(tool: &str, letters: &str, args: Vec<String>) -> Result<Args, Stop> {
        Self::parse_with_values(tool, letters, "", args).map(|(args, _)| args)
    }

    /// As [`Args::parse`], where the letters of `valued` take a value (`-m MASK`, `-mMASK`);
    /// returns those values by letter.
    pub fn parse_with_values(
        tool: &str,
        letters: &str,
        valued: &str,
        args: Vec<String>,
    ) -> Result<(Args, Vec<(char, String)>), Stop> {
        Self::parse_with_long(tool, letters, valued, &[], args)
    }

    /// As [`Args::parse_with_values`], where the tool's own long options `own_long` take a value
    /// too (`--pcap FILE`, `--pcap=FILE`); [`Args::long`] gives their values.
    pub fn parse_with_long(
        tool: &str,
        letters: &str,
        valued: &str,
        own_long: &[&'static str],
        args: Vec<String>,
    ) -> Result<(Args, Vec<(char, String)>), Stop> {
        let mut values = Vec::new();
        let mut long_values = Vec::new();
        let mut flags = Vec::new();
        let mut positional = Vec::new();
        let mut server = None;
        let mut credentials = Credentials::from_env();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--" {
                positional.extend(args.by_ref());
                break;
            }
            if arg == "--help" {
                return Err(Stop::Help);
            }
            if let Some(long) = arg.strip_prefix("--") {
                let (name, value) = match long.split_once('=') {
                    Some((name, value)) => (name, value.to_owned()),
                    None if LONG.contains(&long) || own_long.contains(&long) => {
                        (long, args.next().ok_or(format!("{tool}: option '--{long}' requires an argument"))?)
                    }
                    None => return Err(unsupported(&arg)),
                };
                match name {
                    "server" => server = Some(value),
                    "ca" => credentials.ca = Some(value.into()),
                    "cert" => credentials.cert = Some(value.into()),
                    "key" => credentials.key = Some(value.into()),
                    "token-file" => {
                        credentials.token = Some(
                            read_token(std::path::Path::new(&value)).map_err(|e| format!("{tool}: {e}"))?,
                        )
                    }
                    _ => match own_long.iter().find(|&&o| o == name) {
                        Some(option) => long_values.push((*option, value)),
                        None => return Err(unsupported(&arg)),
                    },
                }
            } else if let Some(letters_given) = arg.strip_prefix('-').filter(|l| !l.is_empty()) {
                for (i, c) in letters_given.char_indices() {
                    if valued.contains(c) {
                        let rest = &letters_given[i + c.len_utf8()..];
                        // Last on the line, it gets no value, as in i2c-tools: what is missing
                        // after it is then what the tool complains about.
                        let value = if rest.is_empty() { args.next() } else { Some(rest.to_owned()) };
                        values.extend(value.map(|v| (c, v)));
                        break;
                    }
                    if !letters.contains(c) {
                        return Err(unsupported(&format!("-{c}")));
                    }
                    flags.push(c);
                }
            } else {
                positional.push(arg);
            }
        }
        let server = server_url(server.as_deref());
        Ok((Args { flags, positional, server, credentials, own: long_values }, values))
    }

    pub fn has(&self, flag: char) -> bool {
        self.flags.contains(&flag)
    }

    /// The value of the tool's own long option `name`, the last one given.
    pub fn long(&self, name: &str) -> Option<&str> {
        self.own.iter().rev().find(|(option, _)| *option == name).map(|(_, value)| value.as_str())
    }
}

/// An option no tool knows, in i2c-tools' words.
fn unsupported(option: &str) -> Stop {
    Stop::Bad(format!("Error: Unsupported option \"{option}\"!"))
}

/// The long options every tool takes, each with a value.
pub(crate) const LONG: [&str; 5] = ["server", "ca", "cert", "key", "token-file"];

/// The first line of a token file (for the tools and for `serve`); the error names the file.
pub fn read_token(path: &std::path::Path) -> Result<String, String> {
    let text = smbus_proxy_sim::file::read_to_string(path, smbus_proxy_sim::file::SETTINGS_MAX)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        return Err(format!("{}: the first line holds no token", path.display()));
    }
    Ok(token.to_owned())
}

/// Bytes as i2c-tools print data: `0x12 0x34`.
pub fn hex_bytes(data: &[u8]) -> String {
    data.iter().map(|b| format!("0x{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// `strtol(s, &end, 0)` with nothing left over: decimal, 0x hex or 0 octal.
pub fn parse_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse().ok()?
    };
    Some(if negative { -value } else { value })
}

/// Connects, or says why not as i2c-tools say it.
pub fn connect(args: &Args) -> Result<Client, ExitCode> {
    Client::connect_with(&args.server, args.credentials.clone())
        .map_err(|e| fail(&format!("Error: {}", Report(&e))))
}

/// Connects, and finds the bus an `I2CBUS` argument names: a number, or an adapter's name.
pub fn connect_bus(args: &Args, arg: &str) -> Result<(Client, BusInfo), ExitCode> {
    let client = connect(args)?;
    let buses = client.list_buses().map_err(|e| fail(&format!("Error: {}", Report(&e))))?;
    let info = find_bus(arg, &buses).map_err(|e| fail(&e))?.clone();
    Ok((client, info))
}

/// The bus an `I2CBUS` argument names among the server's: a number, or an adapter's name.
pub fn find_bus<'a>(arg: &str, buses: &'a [BusInfo]) -> Result<&'a BusInfo, String> {
    let found = match parse_int(arg) {
        Some(n) => buses.iter().find(|b| i64::from(b.number) == n),
        None => buses.iter().find(|b| b.name == arg),
    };
    found.ok_or_else(|| no_such_bus(arg, buses))
}

/// The error for an `I2CBUS` the server lacks: i2c-tools' words, and the buses there are. A
/// device's path or name (`/dev/i2c-1`, `i2c-1`) is neither a number nor an adapter's name,
/// so it gets the number to give instead.
fn no_such_bus(arg: &str, buses: &[BusInfo]) -> String {
    let has: Vec<String> = buses.iter().map(|b| format!("i2c-{}", b.number)).collect();
    let has = has.join(", ");
    if parse_int(arg).is_some() {
        return format!(
            "Error: Could not open file `/dev/i2c-{arg}' on the server: no such bus (it has {has}; `detect -l` lists them)"
        );
    }
    let number =
        arg.strip_prefix("/dev/").unwrap_or(arg).strip_prefix("i2c-").filter(|n| parse_int(n).is_some());
    let give = match number {
        Some(n) => format!("; for i2c-{n}, give its number: {n}"),
        None => String::new(),
    };
    format!(
        "Error: I2C bus name doesn't match any bus present!\nI2CBUS is a bus number or an adapter's name (the server has {has}; `detect -l` lists them{give})"
    )
}

/// A command line too short to say what is wrong: the usage alone, as i2c-tools print it.
pub fn usage_only(usage: &str) -> ExitCode {
    fail(usage)
}

/// A bad command line: the error, then the tool's usage, as i2c-tools print them.
pub fn usage_error(message: &str, usage: &str) -> ExitCode {
    fail(&format!("{message}\n{usage}"))
}

/// Prints an error to stderr; the exit code of a failed tool.
pub fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::FAILURE
}

/// Asks on the terminal, as i2c-tools do without `-y`; true to go on.
pub fn confirm() -> bool {
    ask(true)
}

/// Asks `Continue?`; an empty answer means `default_yes`.
pub fn ask(default_yes: bool) -> bool {
    use std::io::Write;
    eprint!("Continue? [{}] ", if default_yes { "Y/n" } else { "y/N" });
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let yes = std::io::stdin().read_line(&mut answer).is_ok()
        && match answer.chars().next() {
            Some('y' | 'Y') => true,
            Some('\n') => default_yes,
            _ => false,
        };
    if !yes {
        eprintln!("Aborting on user request.");
    }
    yes
}

/// A `CHIP-ADDRESS` argument: 0x08–0x77, or 0x00–0x7f with `-a`.
pub fn chip_address(arg: &str, all: bool) -> Result<u16, String> {
    let (min, max) = if all { (0x00, 0x7f) } else { (0x08, 0x77) };
    match parse_int(arg) {
        None => Err("Error: Chip address is not a number!".into()),
        Some(a) if a < min || a > max => {
            Err(format!("Error: Chip address out of range (0x{min:02x}-0x{max:02x})!"))
        }
        Some(a) => Ok(a as u16),
    }
}

/// A `DATA-ADDRESS` argument: a register, 0x00–0xff.
pub fn data_address(arg: &str) -> Option<u8> {
    parse_int(arg).and_then(|a| u8::try_from(a).ok())
}

/// An errno's meaning, for messages that i2c-tools print with strerror.
pub fn strerror(errno: smbus_proxy_client::Errno) -> String {
    let text = errno.to_string();
    text.split_once(": ").map_or(text.clone(), |(_, meaning)| meaning.to_owned())
}
