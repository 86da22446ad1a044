//! The remote i2c-tools: one argument grammar for all of them (getopt's, as i2c-tools use),
//! plus `--server URL` (else `$SMBUS_PROXY_SERVER`, else the local default).

pub mod detect;

use smbus_proxy_client::{BusInfo, blocking::Client, server_url};
use std::process::ExitCode;

/// Parsed command line: the single-letter flags seen, the values of those that take one, and
/// the positional arguments, in order.
pub struct Args {
    pub flags: Vec<char>,
    pub positional: Vec<String>,
    pub server: String,
}

impl Args {
    /// Parses `args` against `letters` (the flags this tool knows, as in getopt's optstring,
    /// without values). Options may come anywhere, bundled (`-ya`), until `--`.
    pub fn parse(tool: &str, letters: &str, args: Vec<String>) -> Result<Args, String> {
        let mut flags = Vec::new();
        let mut positional = Vec::new();
        let mut server = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--" {
                positional.extend(args.by_ref());
                break;
            }
            if let Some(url) = arg.strip_prefix("--server=") {
                server = Some(url.to_owned());
            } else if arg == "--server" {
                server = Some(args.next().ok_or(format!("{tool}: option '--server' requires an argument"))?);
            } else if arg.starts_with("--") {
                return Err(format!("{tool}: unrecognized option '{arg}'"));
            } else if let Some(letters_given) = arg.strip_prefix('-').filter(|l| !l.is_empty()) {
                for c in letters_given.chars() {
                    if !letters.contains(c) {
                        return Err(format!("{tool}: invalid option -- '{c}'"));
                    }
                    flags.push(c);
                }
            } else {
                positional.push(arg);
            }
        }
        Ok(Args { flags, positional, server: server_url(server.as_deref()) })
    }

    pub fn has(&self, flag: char) -> bool {
        self.flags.contains(&flag)
    }
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
pub fn connect(url: &str) -> Result<Client, ExitCode> {
    Client::connect(url).map_err(|e| fail(&format!("Error: {e}")))
}

/// The bus an `I2CBUS` argument names: a number, or an adapter's name.
pub fn find_bus(client: &Client, arg: &str) -> Result<BusInfo, ExitCode> {
    let buses = client.list_buses().map_err(|e| fail(&format!("Error: {e}")))?;
    let found = match parse_int(arg) {
        Some(n) => buses.into_iter().find(|b| i64::from(b.number) == n),
        None => buses.into_iter().find(|b| b.name == arg),
    };
    found.ok_or_else(|| {
        fail(&format!("Error: Could not open file `/dev/i2c-{arg}' on the server: no such bus"))
    })
}

/// Prints an error to stderr; the exit code of a failed tool.
pub fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::FAILURE
}

/// Asks on the terminal, as i2c-tools do without `-y`; true to go on.
pub fn confirm() -> bool {
    use std::io::Write;
    eprint!("Continue? [Y/n] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_ok()
        && matches!(answer.chars().next(), Some('\n' | 'y' | 'Y'))
    {
        return true;
    }
    eprintln!("Aborting on user request.");
    false
}
