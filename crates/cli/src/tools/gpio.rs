//! `smbus-proxy gpio detect|info|get|set|mon`: libgpiod v2's tools (`gpiodetect`, `gpioinfo`,
//! `gpioget`, `gpioset`, `gpiomon`) on the lines a server offers, with their grammar (getopt_long,
//! options before the lines), their output and their error messages, so that what works with
//! them on the board works the same from the laptop. Lines are named as the server offers
//! them, or with `-c CHIP` by their offset on the chip. `rig/gpio.sh` compares each with the
//! real tool in a real kernel.
//!
//! What a remote tool cannot do is refused with its reason: `gpioget -a` (the server requests
//! a line as an input or an output), `gpioset -z` and `-i` (the lines are held by this process's
//! session), `gpiomon --localtime` and the `hte` clock.

use super::{LONG, read_token};
use smbus_proxy_client::blocking::{Bus, Client};
use smbus_proxy_client::{
    Bias, Code, Credentials, Drive, Edge, Edges, Error, EventClock, LineInfo, LineSettings, server_url,
};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

pub const USAGE: &str = "Usage: smbus-proxy gpio TOOL [OPTIONS] ...
  The GPIO lines of an smbus-proxy server, with libgpiod v2's tools:
  detect [chip]...              the chips the server's lines are on (gpiodetect)
  info [-c chip] [line]...      the lines, who holds them and how (gpioinfo)
  get [options] <line>...       read lines (gpioget)
  set [options] <line=value>... drive lines, until interrupted or -t ends (gpioset)
  mon [options] <line>...       print edge events as they come (gpiomon)
  `smbus-proxy gpio TOOL --help` has each tool's options.
";

/// The remote options every tool takes, after its own.
macro_rules! remote {
    () => {
        "
Lines are specified by name, as the server offers them, or by offset if the chip option is
provided. Chips are named by number, name or path: '0', 'gpiochip0', '/dev/gpiochip0'.
Periods are taken as milliseconds unless units are specified (m, s, ms, us): 10us.

The server:
      --server <url>	the smbus-proxy server (else $SMBUS_PROXY_SERVER, else http://127.0.0.1:50051)
      --token-file <file>	its token (else $SMBUS_PROXY_TOKEN)
      --ca <file>, --cert <file>, --key <file>
			for https://, its CA and this client's certificate and key"
    };
}

const DETECT: &str = concat!(
    "Usage: smbus-proxy gpio detect [OPTIONS] [chip]...

List the GPIO chips of the server's lines, their labels and their number of lines.

Options:
  -h, --help		display this help and exit
",
    remote!()
);

const INFO: &str = concat!(
    "Usage: smbus-proxy gpio info [OPTIONS] [line]...

Print information about the server's GPIO lines; all of them if none is specified.

Options:
      --by-name		treat lines as names even if they would parse as an offset
  -c, --chip <chip>	restrict scope to a particular chip
  -h, --help		display this help and exit
  -s, --strict		check all lines - don't assume line names are unique
      --unquoted	don't quote line or consumer names
",
    remote!()
);

const GET: &str = concat!(
    "Usage: smbus-proxy gpio get [OPTIONS] <line>...

Read values of the server's GPIO lines.

Options:
  -b, --bias <bias>	specify the line bias: 'pull-down', 'pull-up', 'disabled'
      --by-name		treat lines as names even if they would parse as an offset
  -c, --chip <chip>	restrict scope to a particular chip
  -C, --consumer <name>	accepted for gpioget's sake; the server names its consumer
  -h, --help		display this help and exit
  -l, --active-low	treat the line as active low
  -p, --hold-period <period>
			wait between requesting the lines and reading the values
      --numeric		display line values as '0' (inactive) or '1' (active)
  -s, --strict		abort if requested line names are not unique
      --unquoted	don't quote line names
",
    remote!()
);

const SET: &str = concat!(
    "Usage: smbus-proxy gpio set [OPTIONS] <line=value>...

Set values of the server's GPIO lines: '1' or '0', 'active'/'inactive' or 'on'/'off'. The
lines stay as set until this process is interrupted, or the toggle sequence ends with 0.

Options:
  -b, --bias <bias>	specify the line bias: 'pull-down', 'pull-up', 'disabled'
      --by-name		treat lines as names even if they would parse as an offset
  -c, --chip <chip>	restrict scope to a particular chip
  -C, --consumer <name>	accepted for gpioset's sake; the server names its consumer
  -d, --drive <drive>	'push-pull' (the default), 'open-drain', 'open-source'
  -h, --help		display this help and exit
  -l, --active-low	treat the line as active low
  -p, --hold-period <period>
			the minimum time period to hold lines at the requested values
  -s, --strict		abort if requested line names are not unique
  -t, --toggle <period>[,period]...
			toggle the line(s) after the specified period(s)
			If the last period is 0 then it exits else the sequence repeats.
      --unquoted	don't quote line names
",
    remote!()
);

const MON: &str = concat!(
    "Usage: smbus-proxy gpio mon [OPTIONS] <line>...

Wait for events on the server's GPIO lines and print them to standard output.

Options:
  -b, --bias <bias>	specify the line bias: 'pull-down', 'pull-up', 'disabled'
      --by-name		treat lines as names even if they would parse as an offset
  -c, --chip <chip>	restrict scope to a particular chip
  -C, --consumer <name>	accepted for gpiomon's sake; the server names its consumer
  -e, --edges <edges>	'falling', 'rising' or 'both' (the default)
  -E, --event-clock <clock>
			'monotonic' (the default) or 'realtime', formatted as UTC
  -F, --format <fmt>	%o offset, %e event type (1 rising, 2 falling), %E edge, %l line,
			%c chip, %S seconds, %U UTC, %% a percent sign
  -h, --help		display this help and exit
      --idle-timeout <period>
			exit gracefully if no events occur for the period specified
  -l, --active-low	treat the line as active low, flipping the sense of
			rising and falling edges
  -n, --num-events <num>
			exit after processing num events
  -p, --debounce-period <period>
			debounce the line(s) with the specified period
  -q, --quiet		don't generate any output
  -s, --strict		abort if requested line names are not unique
      --unquoted	don't quote line or consumer names
      --utc		format event timestamps as UTC
",
    remote!()
);

/// A tool's command line: its options as `(name, value)`, then its operands.
struct Parsed {
    options: Vec<(&'static str, Option<String>)>,
    operands: Vec<String>,
    server: String,
    credentials: Credentials,
}

impl Parsed {
    fn has(&self, name: &str) -> bool {
        self.options.iter().any(|(n, _)| *n == name)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.options.iter().rev().find(|(n, _)| *n == name).and_then(|(_, v)| v.as_deref())
    }
}

/// One option of a tool: its long name, its letter, and whether it takes a value.
type Opt = (&'static str, Option<char>, bool);

/// What ended the parse before the tool ran.
enum Stop {
    Help,
    Bad(String),
}

/// getopt_long as libgpiod's tools call it: options up to the first operand, or `--`.
fn parse(tool: &str, opts: &[Opt], args: &[String]) -> Result<Parsed, Stop> {
    let mut options = Vec::new();
    let mut server = None;
    let mut credentials = Credentials::from_env();
    let mut rest = args.iter();
    let mut operands = Vec::new();
    let try_help = |problem: String| Stop::Bad(format!("{tool}: {problem}\n{tool}: try {tool} --help"));
    while let Some(arg) = rest.next() {
        if arg == "--" {
            operands.extend(rest.by_ref().cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, given) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            if name == "help" {
                return Err(Stop::Help);
            }
            if LONG.contains(&name) {
                let value = match given {
                    Some(v) => v,
                    None => rest
                        .next()
                        .cloned()
                        .ok_or_else(|| try_help(format!("option '--{name}' requires an argument")))?,
                };
                match name {
                    "server" => server = Some(value),
                    "ca" => credentials.ca = Some(value.into()),
                    "cert" => credentials.cert = Some(value.into()),
                    "key" => credentials.key = Some(value.into()),
                    _ => {
                        let token = read_token(std::path::Path::new(&value))
                            .map_err(|e| Stop::Bad(format!("{tool}: {e}")))?;
                        credentials.token = Some(token);
                    }
                }
                continue;
            }
            let Some(&(long, _, valued)) = opts.iter().find(|(l, _, _)| *l == name) else {
                return Err(try_help(format!("unrecognized option '{arg}'")));
            };
            let value = match (valued, given) {
                (true, Some(v)) => Some(v),
                (true, None) => Some(
                    rest.next()
                        .cloned()
                        .ok_or_else(|| try_help(format!("option '--{long}' requires an argument")))?,
                ),
                (false, Some(_)) => {
                    return Err(try_help(format!("option '--{long}' doesn't allow an argument")));
                }
                (false, None) => None,
            };
            options.push((long, value));
        } else if let Some(letters) = arg.strip_prefix('-').filter(|l| !l.is_empty()) {
            for (i, c) in letters.char_indices() {
                if c == 'h' {
                    return Err(Stop::Help);
                }
                let Some(&(long, _, valued)) = opts.iter().find(|(_, l, _)| *l == Some(c)) else {
                    return Err(try_help(format!("invalid option -- '{c}'")));
                };
                if valued {
                    let tail = &letters[i + c.len_utf8()..];
                    let value = if tail.is_empty() {
                        rest.next()
                            .cloned()
                            .ok_or_else(|| try_help(format!("option requires an argument -- '{c}'")))?
                    } else {
                        tail.to_owned()
                    };
                    options.push((long, Some(value)));
                    break;
                }
                options.push((long, None));
            }
        } else {
            operands.push(arg.clone());
            operands.extend(rest.by_ref().cloned());
            break;
        }
    }
    Ok(Parsed { options, operands, server: server_url(server.as_deref()), credentials })
}

/// A tool's body, given its name (for its messages) and its command line.
type Tool = fn(&str, Parsed) -> Result<(), String>;

/// Runs `smbus-proxy gpio TOOL ARGS`.
pub fn run(args: Vec<String>) -> ExitCode {
    let Some((tool, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let (name, usage, opts, body): (&str, &str, &[Opt], Tool) = match tool.as_str() {
        "detect" => ("gpiodetect", DETECT, &[], detect),
        "info" => ("gpioinfo", INFO, INFO_OPTS, info),
        "get" => ("gpioget", GET, GET_OPTS, get),
        "set" => ("gpioset", SET, SET_OPTS, set),
        "mon" => ("gpiomon", MON, MON_OPTS, mon),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprint!("smbus-proxy gpio: no tool {other:?}\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    match parse(name, opts, rest) {
        Err(Stop::Help) => {
            println!("{usage}");
            ExitCode::SUCCESS
        }
        Err(Stop::Bad(message)) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
        Ok(parsed) => match body(name, parsed) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                if !message.is_empty() {
                    eprintln!("{message}");
                }
                ExitCode::FAILURE
            }
        },
    }
}

const INFO_OPTS: &[Opt] = &[
    ("by-name", None, false),
    ("chip", Some('c'), true),
    ("strict", Some('s'), false),
    ("unquoted", None, false),
];

const GET_OPTS: &[Opt] = &[
    ("as-is", Some('a'), false),
    ("bias", Some('b'), true),
    ("by-name", None, false),
    ("chip", Some('c'), true),
    ("consumer", Some('C'), true),
    ("active-low", Some('l'), false),
    ("hold-period", Some('p'), true),
    ("numeric", None, false),
    ("strict", Some('s'), false),
    ("unquoted", None, false),
];

const SET_OPTS: &[Opt] = &[
    ("banner", None, false),
    ("bias", Some('b'), true),
    ("by-name", None, false),
    ("chip", Some('c'), true),
    ("consumer", Some('C'), true),
    ("drive", Some('d'), true),
    ("interactive", Some('i'), false),
    ("active-low", Some('l'), false),
    ("hold-period", Some('p'), true),
    ("strict", Some('s'), false),
    ("toggle", Some('t'), true),
    ("unquoted", None, false),
    ("daemonize", Some('z'), false),
];

const MON_OPTS: &[Opt] = &[
    ("banner", None, false),
    ("bias", Some('b'), true),
    ("by-name", None, false),
    ("chip", Some('c'), true),
    ("consumer", Some('C'), true),
    ("edges", Some('e'), true),
    ("event-clock", Some('E'), true),
    ("format", Some('F'), true),
    ("idle-timeout", None, true),
    ("active-low", Some('l'), false),
    ("localtime", None, false),
    ("num-events", Some('n'), true),
    ("debounce-period", Some('p'), true),
    ("quiet", Some('q'), false),
    ("strict", Some('s'), false),
    ("unquoted", None, false),
    ("utc", None, false),
];

/// The server's lines, and a client to hold them with.
fn lines_of(tool: &str, p: &Parsed) -> Result<(Client, Vec<LineInfo>), String> {
    let failed = |e: Error| format!("{tool}: {}", smbus_proxy_client::Report(&e));
    let client = Client::connect_with(&p.server, p.credentials.clone()).map_err(failed)?;
    let lines = client.list_lines().map_err(failed)?;
    Ok((client, lines))
}

/// The chip a `-c` argument names, among the chips of `lines`.
fn find_chip<'a>(tool: &str, arg: &str, lines: &'a [LineInfo]) -> Result<&'a str, String> {
    let name = arg.strip_prefix("/dev/").unwrap_or(arg);
    let name = if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        format!("gpiochip{name}")
    } else {
        name.to_owned()
    };
    lines
        .iter()
        .find(|l| l.chip == name)
        .map(|l| l.chip.as_str())
        .ok_or_else(|| format!("{tool}: cannot find GPIO chip character device '{arg}'"))
}

/// The chips of `lines`, in order of their names' numbers.
fn chips(lines: &[LineInfo]) -> Vec<&str> {
    let mut chips: Vec<&str> = lines.iter().map(|l| l.chip.as_str()).collect();
    chips.sort_by_key(|c| {
        (c.trim_start_matches(|ch: char| !ch.is_ascii_digit()).parse::<u64>().unwrap_or(u64::MAX), *c)
    });
    chips.dedup();
    chips
}

/// The lines `ids` name: by name, or with a chip by offset (unless `--by-name`). Each that
/// names none is an error line, as gpioinfo prints them; two naming one line, an error.
fn find_lines<'a>(
    tool: &str,
    p: &Parsed,
    ids: &[String],
    lines: &'a [LineInfo],
) -> Result<(Vec<&'a LineInfo>, Vec<String>), String> {
    let chip = p.value("chip").map(|c| find_chip(tool, c, lines)).transpose()?;
    let mut found: Vec<(&String, &LineInfo)> = Vec::new();
    let mut missing = Vec::new();
    for id in ids {
        let on_chip = |l: &&LineInfo| chip.is_none_or(|c| l.chip == c);
        let by_offset = chip.is_some() && !p.has("by-name") && id.parse::<u32>().is_ok();
        let line = if by_offset {
            lines.iter().filter(on_chip).find(|l| id.parse() == Ok(l.offset))
        } else {
            lines.iter().filter(on_chip).find(|l| l.name == *id)
        };
        match line {
            Some(line) => {
                if let Some((other, _)) =
                    found.iter().find(|(_, l)| l.chip == line.chip && l.offset == line.offset)
                {
                    return Err(format!("{tool}: lines '{other}' and '{id}' are the same line"));
                }
                found.push((id, line));
            }
            None => missing.push(format!("{tool}: cannot find line '{id}'")),
        }
    }
    Ok((found.into_iter().map(|(_, l)| l).collect(), missing))
}

fn detect(tool: &str, p: Parsed) -> Result<(), String> {
    let (_, lines) = lines_of(tool, &p)?;
    let shown: Vec<&str> = if p.operands.is_empty() {
        chips(&lines)
    } else {
        p.operands.iter().map(|c| find_chip(tool, c, &lines)).collect::<Result<_, _>>()?
    };
    for chip in shown {
        let on: Vec<_> = lines.iter().filter(|l| l.chip == chip).collect();
        println!("{chip} [{}] ({} lines)", on[0].chip_label, on.len());
    }
    Ok(())
}

/// A name as the tools print it: quoted, unless `--unquoted`, padded to 16 columns.
fn name_column(name: &str, quoted: bool) -> String {
    let name = if name.is_empty() {
        "unnamed".to_owned()
    } else if quoted {
        format!("\"{name}\"")
    } else {
        name.to_owned()
    };
    format!("{name:<16}")
}

/// A period as libgpiod writes one: in the largest unit that keeps it whole.
fn period(us: u64) -> String {
    match us {
        us if us % 1_000_000 == 0 => format!("{}s", us / 1_000_000),
        us if us % 1_000 == 0 => format!("{}ms", us / 1_000),
        us => format!("{us}us"),
    }
}

/// A line's direction and settings, as gpioinfo lists them.
fn attributes(l: &LineInfo, quoted: bool) -> String {
    use smbus_proxy_wire::pb::{Bias as B, Drive as D, Edges as E, EventClock as C};
    let mut out = vec![if l.is_output() { "output" } else { "input" }.to_owned()];
    if l.active_low {
        out.push("active-low".into());
    }
    match l.drive() {
        D::OpenDrain => out.push("drive=open-drain".into()),
        D::OpenSource => out.push("drive=open-source".into()),
        D::PushPull => {}
    }
    match l.bias() {
        B::PullUp => out.push("bias=pull-up".into()),
        B::PullDown => out.push("bias=pull-down".into()),
        B::Disabled => out.push("bias=disabled".into()),
        B::AsIs => {}
    }
    match l.edges() {
        E::Rising => out.push("edges=rising".into()),
        E::Falling => out.push("edges=falling".into()),
        E::Both => out.push("edges=both".into()),
        E::None => {}
    }
    if l.edges() != E::None && l.event_clock() == C::Realtime {
        out.push("event-clock=realtime".into());
    }
    if l.debounce_us > 0 {
        out.push(format!("debounce-period={}", period(l.debounce_us)));
    }
    if l.used {
        let consumer = if l.consumer.is_empty() { "kernel" } else { &l.consumer };
        out.push(if quoted { format!("consumer=\"{consumer}\"") } else { format!("consumer={consumer}") });
    }
    out.join(" ")
}

fn info(tool: &str, p: Parsed) -> Result<(), String> {
    let (_, lines) = lines_of(tool, &p)?;
    let quoted = !p.has("unquoted");
    if p.operands.is_empty() {
        let shown = match p.value("chip") {
            Some(c) => vec![find_chip(tool, c, &lines)?],
            None => chips(&lines),
        };
        for chip in shown {
            let on: Vec<_> = lines.iter().filter(|l| l.chip == chip).collect();
            println!("{chip} - {} lines:", on.len());
            for l in on {
                println!(
                    "\tline {:>3}:\t{}\t{}",
                    l.offset,
                    name_column(&l.name, quoted),
                    attributes(l, quoted)
                );
            }
        }
        return Ok(());
    }
    let (found, missing) = find_lines(tool, &p, &p.operands, &lines)?;
    // The lines not found first, as gpioinfo finds them all before it prints.
    for message in &missing {
        eprintln!("{message}");
    }
    for l in found {
        println!("{} {}\t{}\t{}", l.chip, l.offset, name_column(&l.name, quoted), attributes(l, quoted));
    }
    if missing.is_empty() { Ok(()) } else { Err(String::new()) }
}

/// A `-b` argument.
fn bias(tool: &str, p: &Parsed) -> Result<Bias, String> {
    Ok(match p.value("bias") {
        None => Bias::AsIs,
        Some("pull-up") => Bias::PullUp,
        Some("pull-down") => Bias::PullDown,
        Some("disabled") => Bias::Disabled,
        Some(other) => return Err(format!("{tool}: invalid bias: {other}")),
    })
}

/// A period: milliseconds unless a unit says otherwise.
fn parse_period(tool: &str, arg: &str) -> Result<Duration, String> {
    let bad = || format!("{tool}: invalid period: {arg}");
    let digits = arg.find(|c: char| !c.is_ascii_digit()).unwrap_or(arg.len());
    let (n, unit) = arg.split_at(digits);
    let n: u64 = n.parse().map_err(|_| bad())?;
    Ok(match unit {
        "" | "ms" => Duration::from_millis(n),
        "us" => Duration::from_micros(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
        _ => return Err(bad()),
    })
}

/// A session to hold lines with: on the server's first bus, as a line needs a session. With
/// no resume window, so that lines a tool killed outright held are free one lease after.
fn session(tool: &str, client: &Client) -> Result<Bus, String> {
    let failed = |e: Error| format!("{tool}: {}", smbus_proxy_client::Report(&e));
    let first = client.list_buses().map_err(failed)?.first().map_or(0, |b| b.number);
    let options = smbus_proxy_client::BusOptions { resume_window: None, ..Default::default() };
    client.bus_with(first, options).map_err(failed)
}

/// Sends once Ctrl-C or SIGTERM comes, so that the tool gives its lines back before it ends,
/// as the kernel takes back the lines of a local tool that ends. The handlers are in place
/// when this returns: a signal that comes at once is not the default's to kill with.
fn interrupted<T: Send + 'static>(tx: std::sync::mpsc::Sender<T>, stop: T) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        // No runtime, no handler: the default ends the tool, and the session's lease frees
        // the lines; meanwhile nothing is sent, as no signal came.
        std::mem::forget(tx);
        return;
    };
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        let _in = runtime.enter();
        (signal(SignalKind::interrupt()).ok(), signal(SignalKind::terminate()).ok())
    };
    std::thread::spawn(move || {
        #[cfg(unix)]
        runtime.block_on(async {
            let (int, term) = signals;
            tokio::select! {
                () = arrival(int) => {}
                () = arrival(term) => {}
            }
        });
        #[cfg(not(unix))]
        runtime.block_on(crate::shutdown_signal());
        let _ = tx.send(stop);
    });
}

/// When `signal` comes; never, if it could not be listened for.
#[cfg(unix)]
async fn arrival(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut signal) => drop(signal.recv().await),
        None => std::future::pending().await,
    }
}

/// The lines, or why the server would not give them, in gpioget's words where it has them.
fn request(
    tool: &str,
    bus: &mut Bus,
    wanted: &[(&str, LineSettings)],
) -> Result<Vec<smbus_proxy_client::blocking::Line>, String> {
    bus.lines(wanted).map_err(|e| match &e {
        Error::Rejected { code: Code::Aborted, .. } => {
            format!("{tool}: unable to request lines: Device or resource busy")
        }
        Error::Rejected { code: Code::PermissionDenied, message } => {
            format!("{tool}: unable to request lines: Permission denied ({message})")
        }
        _ => format!("{tool}: unable to request lines: {}", smbus_proxy_client::Report(&e)),
    })
}

fn get(tool: &str, p: Parsed) -> Result<(), String> {
    if p.has("as-is") {
        return Err(format!(
            "{tool}: -a: the server requests a line as an input or an output, so as-is is not available remotely"
        ));
    }
    let bias = bias(tool, &p)?;
    let hold = p.value("hold-period").map(|v| parse_period(tool, v)).transpose()?;
    if p.operands.is_empty() {
        return Err(format!("{tool}: at least one GPIO line must be specified"));
    }
    let (client, lines) = lines_of(tool, &p)?;
    let (found, missing) = find_lines(tool, &p, &p.operands, &lines)?;
    if !missing.is_empty() {
        return Err(missing.join("\n"));
    }
    let settings = LineSettings { active_low: p.has("active-low"), bias, ..LineSettings::input() };
    let wanted: Vec<_> = found.iter().map(|l| (l.name.as_str(), settings)).collect();
    let mut bus = session(tool, &client)?;
    let mut held = request(tool, &mut bus, &wanted)?;
    if let Some(hold) = hold {
        std::thread::sleep(hold);
    }
    let mut out = Vec::new();
    for (id, line) in p.operands.iter().zip(&mut held) {
        let value = line
            .get()
            .map_err(|e| format!("{tool}: unable to read values: {}", smbus_proxy_client::Report(&e)))?;
        out.push(match (p.has("numeric"), p.has("unquoted")) {
            (true, _) => u8::from(value).to_string(),
            (false, true) => format!("{id}={}", if value { "active" } else { "inactive" }),
            (false, false) => format!("\"{id}\"={}", if value { "active" } else { "inactive" }),
        });
    }
    println!("{}", out.join(" "));
    Ok(())
}

fn set(tool: &str, p: Parsed) -> Result<(), String> {
    if p.has("daemonize") || p.has("interactive") || p.has("banner") {
        let which = if p.has("daemonize") {
            "-z"
        } else if p.has("interactive") {
            "-i"
        } else {
            "--banner"
        };
        return Err(format!(
            "{tool}: {which}: the lines are held by this process's session on the server; run it in the background (&) instead"
        ));
    }
    let bias = bias(tool, &p)?;
    let drive = match p.value("drive") {
        None | Some("push-pull") => Drive::PushPull,
        Some("open-drain") => Drive::OpenDrain,
        Some("open-source") => Drive::OpenSource,
        Some(other) => return Err(format!("{tool}: invalid drive: {other}")),
    };
    let hold = p.value("hold-period").map(|v| parse_period(tool, v)).transpose()?;
    let toggles = match p.value("toggle") {
        Some(list) => list.split(',').map(|t| parse_period(tool, t)).collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    if p.operands.is_empty() {
        return Err(format!("{tool}: at least one GPIO line value must be specified"));
    }
    let mut ids = Vec::new();
    let mut values = Vec::new();
    for pair in &p.operands {
        let Some((id, value)) = pair.split_once('=') else {
            return Err(format!("{tool}: invalid line value: '{pair}'"));
        };
        let value = match value.to_ascii_lowercase().as_str() {
            "1" | "active" | "on" | "true" => true,
            "0" | "inactive" | "off" | "false" => false,
            _ => return Err(format!("{tool}: invalid line value: '{value}'")),
        };
        ids.push(id.to_owned());
        values.push(value);
    }
    let (client, lines) = lines_of(tool, &p)?;
    let (found, missing) = find_lines(tool, &p, &ids, &lines)?;
    if !missing.is_empty() {
        return Err(missing.join("\n"));
    }
    let wanted: Vec<_> = found
        .iter()
        .zip(&values)
        .map(|(l, &v)| {
            let settings =
                LineSettings { active_low: p.has("active-low"), bias, drive, ..LineSettings::output(v) };
            (l.name.as_str(), settings)
        })
        .collect();
    // Held until interrupted (or the toggles end); then the session ends, and the lines are
    // free.
    let (tx, stop) = std::sync::mpsc::channel();
    interrupted(tx, ());
    let mut bus = session(tool, &client)?;
    let mut held = request(tool, &mut bus, &wanted)?;
    let hold = hold.unwrap_or(Duration::ZERO);
    if toggles.is_empty() {
        std::thread::sleep(hold);
        let _ = stop.recv();
        drop(held);
        return Ok(());
    }
    let mut current = values;
    for period in toggles.iter().cycle() {
        if period.is_zero() {
            std::thread::sleep(hold);
            return Ok(());
        }
        if stop.recv_timeout((*period).max(hold)).is_ok() {
            return Ok(());
        }
        for (line, value) in held.iter_mut().zip(&mut current) {
            *value = !*value;
            line.set(*value)
                .map_err(|e| format!("{tool}: unable to set values: {}", smbus_proxy_client::Report(&e)))?;
        }
    }
    Ok(())
}

fn mon(tool: &str, p: Parsed) -> Result<(), String> {
    if p.has("banner") || p.has("localtime") {
        let which = if p.has("banner") { "--banner" } else { "--localtime" };
        return Err(format!("{tool}: {which} is not available remotely"));
    }
    let bias = bias(tool, &p)?;
    let edges = match p.value("edges") {
        None | Some("both") => Edges::Both,
        Some("rising") => Edges::Rising,
        Some("falling") => Edges::Falling,
        Some(other) => return Err(format!("{tool}: invalid edges: {other}")),
    };
    let clock = match p.value("event-clock") {
        None | Some("monotonic") => EventClock::Monotonic,
        Some("realtime") => EventClock::Realtime,
        Some("hte") => return Err(format!("{tool}: the hte clock is not available remotely")),
        Some(other) => return Err(format!("{tool}: invalid event clock: {other}")),
    };
    let debounce = p.value("debounce-period").map(|v| parse_period(tool, v)).transpose()?.unwrap_or_default();
    let idle = p.value("idle-timeout").map(|v| parse_period(tool, v)).transpose()?;
    let count = match p.value("num-events") {
        Some(n) => Some(n.parse::<u64>().map_err(|_| format!("{tool}: invalid number: {n}"))?),
        None => None,
    };
    if p.operands.is_empty() {
        return Err(format!("{tool}: at least one GPIO line must be specified"));
    }
    let (client, lines) = lines_of(tool, &p)?;
    let (found, missing) = find_lines(tool, &p, &p.operands, &lines)?;
    if !missing.is_empty() {
        return Err(missing.join("\n"));
    }
    let settings = LineSettings {
        active_low: p.has("active-low"),
        bias,
        debounce,
        event_clock: clock,
        ..LineSettings::input().with_edges(edges)
    };
    let wanted: Vec<_> = found.iter().map(|l| (l.name.as_str(), settings)).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    interrupted(tx.clone(), None);
    let mut bus = session(tool, &client)?;
    let _held = request(tool, &mut bus, &wanted)?;
    let names: Vec<String> = found.iter().map(|l| l.name.clone()).collect();
    let mut events =
        bus.line_events(&names).map_err(|e| format!("{tool}: {}", smbus_proxy_client::Report(&e)))?;
    let by_offset = p.value("chip").is_some();
    let utc = clock == EventClock::Realtime || p.has("utc");
    let quoted = !p.has("unquoted");
    // The stream blocks; the idle timeout and an interruption are kept here.
    std::thread::spawn(move || {
        for event in events.by_ref() {
            if tx.send(Some(event)).is_err() {
                return;
            }
        }
    });
    let mut seen = 0;
    let mut last = Instant::now();
    loop {
        if count.is_some_and(|n| seen >= n) {
            return Ok(());
        }
        let event = match idle {
            Some(idle) => rx.recv_timeout(idle.saturating_sub(last.elapsed())).ok(),
            None => rx.recv().ok(),
        };
        // The end: idle, interrupted, or the stream ended.
        let Some(Some(event)) = event else { return Ok(()) };
        let event = event.map_err(|e| format!("{tool}: {}", smbus_proxy_client::Report(&e)))?;
        last = Instant::now();
        seen += 1;
        if p.has("quiet") {
            continue;
        }
        let line = found.iter().find(|l| l.name == event.line).copied();
        let (chip, offset) = line.map_or(("", 0), |l| (l.chip.as_str(), l.offset));
        let name = if quoted { format!("\"{}\"", event.line) } else { event.line.clone() };
        let stamp = if utc { utc_time(event.timestamp_ns) } else { seconds(event.timestamp_ns) };
        let edge = match event.edge {
            Edge::Rising => "rising",
            Edge::Falling => "falling",
        };
        let text = match p.value("format") {
            Some(format) => {
                let mut out = String::new();
                let mut chars = format.chars();
                while let Some(c) = chars.next() {
                    if c != '%' {
                        out.push(c);
                        continue;
                    }
                    match chars.next() {
                        Some('o') => out.push_str(&offset.to_string()),
                        Some('e') => out.push(if event.edge == Edge::Rising { '1' } else { '2' }),
                        Some('E') => out.push_str(edge),
                        Some('l') => out.push_str(&event.line),
                        Some('c') => out.push_str(chip),
                        Some('S') => out.push_str(&seconds(event.timestamp_ns)),
                        Some('U') => out.push_str(&utc_time(event.timestamp_ns)),
                        Some('%') => out.push('%'),
                        Some(other) => {
                            out.push('%');
                            out.push(other);
                        }
                        None => out.push('%'),
                    }
                }
                out
            }
            None if by_offset => format!("{stamp}\t{edge}\t{chip} {offset} {name}"),
            None => format!("{stamp}\t{edge}\t{name}"),
        };
        println!("{text}");
    }
}

/// A timestamp as seconds and nanoseconds.
fn seconds(ns: u64) -> String {
    format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
}

/// A wall-clock timestamp as UTC, to the nanosecond.
fn utc_time(ns: u64) -> String {
    humantime::format_rfc3339_nanos(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns)).to_string()
}
