//! `smbus-proxy`: serve a Linux I2C/SMBus bus, or a simulated one, over gRPC.

// `remote_usage!` (the options every command that talks to a server takes) comes from here.
#[macro_use]
mod tools;
#[cfg(target_os = "linux")]
mod attach;
mod config;
mod man;
mod web;

use clap::{CommandFactory, Parser, Subcommand};
use smbus_proxy_server::{Backend, Server, Tls};
use smbus_proxy_sim::Config;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tracing::Level;

#[derive(Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve buses over gRPC (smbus.v1, with health and reflection).
    Serve(Box<Serve>),
    /// Scan a remote bus for devices, as i2cdetect does (`detect --help` for its options).
    #[command(disable_help_flag = true)]
    Detect {
        /// i2cdetect's arguments: [-y] [-a] [-q|-r] I2CBUS [FIRST LAST], -F I2CBUS, -l, --server URL, --token-file FILE, --ca FILE, --cert FILE, --key FILE
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The server's GPIO lines, as libgpiod's tools: gpio detect|info|get|set|mon (`gpio --help`).
    #[command(disable_help_flag = true)]
    Gpio {
        /// TOOL and its arguments, as gpiodetect, gpioinfo, gpioget, gpioset and gpiomon take them, --server URL, --token-file FILE, --ca FILE, --cert FILE, --key FILE
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Dump a device's registers, as i2cdump does.
    #[command(disable_help_flag = true)]
    Dump {
        /// i2cdump's arguments: [-f] [-y] [-r first-last] [-a] I2CBUS ADDRESS [MODE], --server URL, --token-file FILE, --ca FILE, --cert FILE, --key FILE
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Read a register, as i2cget does.
    #[command(disable_help_flag = true)]
    Get {
        /// i2cget's arguments: [-f] [-y] [-a] I2CBUS CHIP-ADDRESS [DATA-ADDRESS [MODE [LENGTH]]], --server URL, --token-file FILE, --ca FILE, --cert FILE, --key FILE
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Send a combined I2C transfer, as i2ctransfer does.
    #[command(disable_help_flag = true)]
    Transfer {
        /// i2ctransfer's arguments: [-f] [-y] [-v] [-a] I2CBUS DESC [DATA] [DESC [DATA]]..., --server URL, --token-file FILE, --ca FILE, --cert FILE, --key FILE
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Write a register, as i2cset does.
    #[command(disable_help_flag = true)]
    Set {
        /// i2cset's arguments: [-f] [-y] [-m MASK] [-r] [-a] I2CBUS CHIP-ADDRESS DATA-ADDRESS [VALUE]... [MODE], --server URL, --token-file FILE, --ca FILE, --cert FILE, --key FILE
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Watch every operation on the server's buses, live (`monitor --help` for its options).
    #[command(disable_help_flag = true)]
    Monitor {
        /// [-d ADDRESS]... [--record FILE] [--pcap FILE|-] [I2CBUS]..., --server URL, --token-file FILE, --ca FILE, --cert FILE, --key FILE
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The bus in a browser: an address map, live traffic, registers and plots, who holds the
    /// bus (`web --help` for its options).
    #[command(disable_help_flag = true)]
    Web {
        /// [--listen ADDR] [--open] [--allow-writes], --server URL, --token-file FILE, --ca FILE, --cert FILE, --key FILE
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Show who is using the server's buses: sessions, locks held and awaited, operations
    /// (`status --help` for its options).
    #[command(disable_help_flag = true)]
    Status {
        /// --server URL, --token-file FILE, --ca FILE, --cert FILE, --key FILE
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// List the servers that announce themselves on the local network (DNS-SD): name,
    /// address, port, buses and what a client must bring. Connect to one with
    /// `--server mdns://NAME`.
    Servers {
        /// How long to listen for answers, in milliseconds. A server answers at once, but
        /// at most once a second (RFC 6762 §6): a search right after another hears it later.
        #[arg(long, value_name = "MS", default_value_t = 1500, value_parser = clap::value_parser!(u64).range(100..=60_000))]
        wait: u64,
    },
    /// Create /dev/i2c-N on this machine, backed by a bus of the server, for programs that use
    /// i2c-dev (`attach --help` for its options; Linux only).
    #[command(disable_help_flag = true)]
    Attach {
        /// [--as N] [--mode MODE] [--group GROUP] I2CBUS, --server URL, --token-file FILE, --ca FILE, --cert FILE, --key FILE
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print a trace's operations as embedded-hal-mock expectations: Rust source for a driver's
    /// unit test, so a recording on the real chip runs as a test without it.
    ExportMock {
        /// The trace (`smbus-proxy monitor --record FILE` writes one).
        trace: PathBuf,
        /// The trace's bus to export; needed only when it has several.
        #[arg(long)]
        bus: Option<u32>,
        /// Only operations with this device, 0x00–0x7F (repeat for several).
        #[arg(short = 'd', long = "device", value_name = "ADDRESS", value_parser = device_address)]
        devices: Vec<u16>,
    },
    /// Print a shell completion script: `smbus-proxy completions bash > /etc/bash_completion.d/smbus-proxy`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `smbus-proxy man > smbus-proxy.1; man ./smbus-proxy.1`.
    Man,
}

/// The server's limits when no flag changes them.
const DEFAULTS: smbus_proxy_server::Limits = smbus_proxy_server::Limits::DEFAULT;

#[derive(clap::Args)]
struct Serve {
    /// Read options from this TOML file first: a key is an option's name, its value the
    /// option's (`listen = "0.0.0.0:50051"`, `bus = [1]`, `insecure_network = true`); an
    /// option given here replaces the file's. `packaging/serve.toml` has them all.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Address to listen on: IP:PORT, HOST:PORT, or a bare PORT (on loopback).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051", env = "SMBUS_PROXY_LISTEN", value_parser = listen_addr)]
    listen: SocketAddr,

    /// Serve these Linux buses (/dev/i2c-N), by number; repeat for several. Without --bus or
    /// --simulate, every /dev/i2c-N there is.
    #[arg(long = "bus", value_name = "N", conflicts_with = "simulate")]
    buses: Vec<u32>,

    /// Offer a GPIO line beside the buses: [NAME=]CHIP:OFFSET (the chip as gpiochip0, 0,
    /// /dev/gpiochip0 or its label) or [NAME=]LINE (the kernel's name of the line, as gpioinfo
    /// shows it). Clients call it NAME, else the kernel's name, else CHIP:OFFSET. Repeat for
    /// several; without --line no line is offered. With --simulate, the lab's lines instead.
    #[arg(long = "line", value_name = "SPEC", conflicts_with = "simulate")]
    lines: Vec<String>,

    /// Serve simulated buses: from a TOML file, or without one the built-in demo bus 1
    /// (Si4703 at 0x10, PCF8574 at 0x20, register file at 0x48, 24C02 EEPROM at 0x50).
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    simulate: Option<Option<PathBuf>>,

    /// How long a session lives without a sign of life, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    lease_ms: u64,

    /// Require every client to send this token (`authorization: Bearer <token>`): a file
    /// whose first line is the token. Else $SMBUS_PROXY_TOKEN, if set.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,

    /// Serve over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Mutual TLS: require every client to present a certificate signed by this CA (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,

    /// Listen on an address beyond loopback with no client authentication (neither a token
    /// nor --tls-client-ca). Anyone who reaches the port can then read and write every chip
    /// on the served buses.
    #[arg(long)]
    insecure_network: bool,

    /// Access policy per bus (TOML): allowed addresses, read-only, force, PEC, operations per
    /// transaction. Breaking a rule gets PERMISSION_DENIED.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,

    /// Most operations in one transaction; more get RESOURCE_EXHAUSTED.
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.ops_per_transaction as u32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    max_ops: u32,

    /// Most bytes in one request message; larger ones get RESOURCE_EXHAUSTED.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULTS.message_bytes as u32, value_parser = clap::value_parser!(u32).range(1024..=smbus_proxy_wire::op::MAX_MESSAGE_BYTES as i64))]
    max_message_bytes: u32,

    /// Most time one transaction's waits and poll timeouts may hold the bus, in ms (other
    /// clients of the bus wait meanwhile); more get RESOURCE_EXHAUSTED. 0 refuses them.
    #[arg(long, value_name = "MS", default_value_t = DEFAULTS.bus_wait.as_millis() as u32, value_parser = clap::value_parser!(u32).range(0..=60_000))]
    max_bus_wait_ms: u32,

    /// The longest resume window a session may have, in ms: how long a client whose
    /// connection broke has to come back to its session, its lock and the answers it missed.
    /// A silent client's lock is held that long. 0: sessions cannot be resumed.
    #[arg(long, value_name = "MS", default_value_t = DEFAULTS.resume_window.as_millis() as u32, value_parser = clap::value_parser!(u32).range(0..=600_000))]
    max_resume_window_ms: u32,

    /// Bytes of unacknowledged answers one session keeps for a client that may come back
    /// (each counted at the most it can take); one transaction's are always kept.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULTS.record_bytes as u32, value_parser = clap::value_parser!(u32).range(1024..=smbus_proxy_wire::op::MAX_MESSAGE_BYTES as i64))]
    max_record_bytes: u32,

    /// The adapter timeout for every operation (I2C_TIMEOUT, in steps of 10 ms): a device
    /// that holds the bus longer fails with ETIMEDOUT. Sessions may ask for less, not more.
    #[arg(long, value_name = "MS", value_parser = op_timeout)]
    op_timeout_ms: Option<u32>,

    /// Most connections open at once; more are closed as soon as they are accepted. Keep it
    /// below the descriptor limit (`ulimit -n`, LimitNOFILE=).
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.connections as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,

    /// Most connections open at once from one client host (IP address).
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.connections_per_peer as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections_per_peer: u32,

    /// Most calls in flight on one connection (HTTP/2 MAX_CONCURRENT_STREAMS); a client with
    /// more waits for one to end.
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.streams_per_connection, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_streams_per_connection: u32,

    /// Most calls in flight at once (each holds buffers while it lasts); more get
    /// RESOURCE_EXHAUSTED at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.calls as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_calls: u32,

    /// Most calls in flight at once from one client host.
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.calls_per_peer as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_calls_per_peer: u32,

    /// Most bytes of requests taken in and replies not yet sent the server holds at once;
    /// past it a transaction or a request gets RESOURCE_EXHAUSTED before it runs. At least
    /// twice --max-message-bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULTS.buffered as u64, value_parser = clap::value_parser!(u64).range(1 << 16..=1 << 40))]
    max_buffered: u64,

    /// The same, for one client host: a client that stops reading its replies stops here.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULTS.buffered_per_peer as u64, value_parser = clap::value_parser!(u64).range(1 << 16..=1 << 40))]
    max_buffered_per_peer: u64,

    /// Most watchers (monitors, recorders) at once; more get RESOURCE_EXHAUSTED.
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.watchers as u32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_watchers: u32,

    /// Most watchers at once from one client host.
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.watchers_per_peer as u32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_watchers_per_peer: u32,

    /// Close a new connection that has not started a call within this time (TCP, TLS and
    /// HTTP/2 handshakes included); with a token or client certificates, one that has not made
    /// a call with them, whatever else it has in flight.
    #[arg(long, value_name = "MS", default_value_t = DEFAULTS.handshake_timeout.as_millis() as u64, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    handshake_timeout_ms: u64,

    /// With a token or client certificates: most connections open at once that have made no
    /// call with them (health needs none); a new one past it closes the oldest, so that
    /// clients with credentials always get in.
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.unauthenticated_connections as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_unauthenticated_connections: u32,

    /// Close a connection that has had no call in flight for this long (clients reconnect
    /// when they next call).
    #[arg(long, value_name = "MS", default_value_t = DEFAULTS.idle_timeout.as_millis() as u64, value_parser = clap::value_parser!(u64).range(100..=86_400_000))]
    idle_timeout_ms: u64,

    /// Ping a connection that has been silent this long (HTTP/2 PING); one that does not
    /// answer within as long again is dropped with its calls.
    #[arg(long, value_name = "MS", default_value_t = DEFAULTS.keepalive.as_millis() as u64, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    keepalive_ms: u64,

    /// Most sessions open at once; more get RESOURCE_EXHAUSTED.
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.sessions as u32, value_parser = clap::value_parser!(u32).range(1..=65536))]
    max_sessions: u32,

    /// Most sessions open at once from one client host. On loopback, where an SSH tunnel
    /// brings every remote client, each connection counts as a host.
    #[arg(long, value_name = "N", default_value_t = DEFAULTS.sessions_per_peer as u32, value_parser = clap::value_parser!(u32).range(1..=65536))]
    max_sessions_per_peer: u32,

    /// Do not announce the server on the local network. Without this, a server that listens
    /// beyond loopback announces itself with DNS-SD (`_smbus-proxy._tcp`: its version, buses,
    /// and whether it asks for TLS, a token or a client certificate), so that clients find it
    /// with `smbus-proxy servers` and connect to `mdns://NAME`.
    #[arg(long)]
    no_announce: bool,

    /// The name to announce (DNS-SD instance name); clients connect to `mdns://NAME`.
    /// Default: this machine's host name.
    #[arg(long, value_name = "NAME", conflicts_with = "no_announce", value_parser = announce_name)]
    announce_name: Option<String>,

    /// The log level of each bus operation (the server logs at info unless RUST_LOG says
    /// otherwise, so `--log-ops info` shows every operation).
    #[arg(long, value_name = "LEVEL", default_value = "debug")]
    log_ops: Level,
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr, coloured only on a terminal and unless NO_COLOR is set (no-color.org),
    // so they can be piped and parsed.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && !no_color)
        .init();
    let argv = match config::expand::<Cli>(std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(argv);
    if !matches!(cli.command, Command::Serve(_) | Command::Attach { .. }) {
        end_quietly_when_the_reader_goes();
    }
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Detect { args } => return tools::detect::run(args),
        Command::Dump { args } => return tools::dump::run(args),
        Command::Gpio { args } => return tools::gpio::run(args),
        Command::Get { args } => return tools::get::run(args),
        Command::Set { args } => return tools::set::run(args),
        Command::Transfer { args } => return tools::transfer::run(args),
        Command::Monitor { args } => return tools::monitor::run(args),
        Command::Status { args } => return tools::status::run(args),
        Command::Web { args } => return web::run(args),
        Command::Servers { wait } => return tools::servers::run(Duration::from_millis(wait)),
        #[cfg(target_os = "linux")]
        Command::Attach { args } => return attach::run(args),
        #[cfg(not(target_os = "linux"))]
        Command::Attach { .. } => {
            Err("attach creates a Linux character device (CUSE); it exists on Linux only".into())
        }
        Command::ExportMock { trace, bus, devices } => match smbus_proxy_sim::file::read_trace(&trace)
            .map_err(Box::<dyn std::error::Error>::from)
            .and_then(|events| Ok(smbus_proxy_client::mock::expectations(&trace, events, bus, &devices)?))
        {
            Ok(source) => {
                print!("{source}");
                return ExitCode::SUCCESS;
            }
            Err(e) => Err(e),
        },
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "smbus-proxy", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::Man => man::render(Cli::command(), &mut std::io::stdout().lock()).map_err(Into::into),
    };
    // What stops a command is said as the tools say it: not a log line, which is for what
    // happens while the server runs.
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", smbus_proxy_client::Report(&*e));
            ExitCode::FAILURE
        }
    }
}

/// A command that prints for a reader ends when the reader goes away, as `i2cdump | head`
/// does: SIGPIPE's default action, where Rust ignores it and then fails the next write
/// ("Broken pipe"). The server and `attach` keep it ignored: a client that goes away is an
/// error on its own socket, not the end of the process.
fn end_quietly_when_the_reader_goes() {
    #[cfg(unix)]
    {
        use nix::sys::signal::{SigHandler, Signal, signal};
        // SAFETY: the default action is no handler of ours; nothing else in the process sets
        // SIGPIPE's disposition.
        unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }.expect("SIGPIPE has a default action");
    }
}

/// `-d`: a 7-bit address, in hex (0x48) or decimal.
fn device_address(s: &str) -> Result<u16, String> {
    tools::parse_int(s)
        .and_then(|a| u16::try_from(a).ok())
        .filter(|&a| a <= 0x7F)
        .ok_or_else(|| format!("{s} is not a 7-bit address (0x00–0x7F)"))
}

/// `--listen`: IP:PORT, HOST:PORT (the host's first IPv4 address, else its first), or PORT
/// alone, which means loopback, the safe default.
fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    let expected = "give IP:PORT, HOST:PORT or PORT, such as 127.0.0.1:50051, 0.0.0.0:50051 or 50051";
    let addrs: Vec<SocketAddr> = s.to_socket_addrs().map_err(|e| format!("{e}; {expected}"))?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{s} has no address; {expected}"))
}

/// `--announce-name`: what DNS-SD allows in an instance name (RFC 6763 §4.1.1: up to 63
/// bytes of UTF-8, no control characters).
fn announce_name(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 63 {
        return Err(format!("the name is {} bytes long; DNS-SD allows 1 to 63", s.len()));
    }
    if s.chars().any(char::is_control) {
        return Err("a DNS-SD name may not hold control characters".into());
    }
    Ok(s.to_owned())
}

fn op_timeout(s: &str) -> Result<u32, String> {
    let ms = s.parse().map_err(|_| format!("{s} is not a number of milliseconds"))?;
    smbus_proxy_wire::decode::timeout_ms(ms).map_err(|e| e.to_string())
}

fn serve(args: Serve) -> Result<(), Box<dyn std::error::Error>> {
    let largest = 2 * u64::from(args.max_message_bytes);
    if args.max_buffered_per_peer < largest {
        return Err(format!(
            "--max-buffered-per-peer: {} is less than twice --max-message-bytes ({largest}): the largest \
             request and its reply would never fit",
            args.max_buffered_per_peer
        )
        .into());
    }
    if args.max_buffered < args.max_buffered_per_peer {
        return Err(format!(
            "--max-buffered: {} is less than --max-buffered-per-peer ({})",
            args.max_buffered, args.max_buffered_per_peer
        )
        .into());
    }
    let server = match &args.simulate {
        Some(file) => Server::simulated(&match file {
            Some(path) => Config::load(path)?,
            None => Config::demo(),
        }),
        None => Server::new(linux_buses(args.buses.clone())?).lines(linux_lines(&args.lines)?),
    };
    let (token, tls) = credentials(&args)?;
    let policy = match &args.policy {
        Some(path) => smbus_proxy_server::Policy::load(path)?,
        None => smbus_proxy_server::Policy::default(),
    };
    let mut server = server
        .lease(Duration::from_millis(args.lease_ms))
        .op_log_level(args.log_ops)
        .token(token)
        .tls(tls)
        .policy(policy)
        .limits(smbus_proxy_server::Limits {
            connections: args.max_connections as usize,
            connections_per_peer: args.max_connections_per_peer as usize,
            streams_per_connection: args.max_streams_per_connection,
            calls: args.max_calls as usize,
            calls_per_peer: args.max_calls_per_peer as usize,
            buffered: args.max_buffered as usize,
            buffered_per_peer: args.max_buffered_per_peer as usize,
            watchers: args.max_watchers as usize,
            watchers_per_peer: args.max_watchers_per_peer as usize,
            handshake_timeout: Duration::from_millis(args.handshake_timeout_ms),
            unauthenticated_connections: args.max_unauthenticated_connections as usize,
            idle_timeout: Duration::from_millis(args.idle_timeout_ms),
            keepalive: Duration::from_millis(args.keepalive_ms),
            sessions: args.max_sessions as usize,
            sessions_per_peer: args.max_sessions_per_peer as usize,
            ops_per_transaction: args.max_ops as usize,
            message_bytes: args.max_message_bytes as usize,
            bus_wait: Duration::from_millis(args.max_bus_wait_ms.into()),
            op_timeout: args.op_timeout_ms.map(|ms| Duration::from_millis(ms.into())),
            resume_window: Duration::from_millis(args.max_resume_window_ms.into()),
            record_bytes: args.max_record_bytes as usize,
        });
    if !args.no_announce {
        server = server.announce(args.announce_name.clone());
    }
    // One thread for the network: measured (benches/proxy.rs), it answers a call sooner and
    // with a third less CPU than a multi-thread runtime, whose wake-ups cross threads. Buses
    // that block get threads of their own, so they still run in parallel.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::AddrInUse => {
                    "; another program holds that port (another `smbus-proxy serve`?): stop it, or choose \
                     another with --listen"
                }
                std::io::ErrorKind::AddrNotAvailable => "; that address is not one of this machine's",
                std::io::ErrorKind::PermissionDenied => {
                    "; ports below 1024 need privileges: choose a higher one"
                }
                _ => "",
            };
            format!("cannot listen on {}: {e}{hint}", args.listen)
        })?;
        server
            .serve(listener, async {
                shutdown_signal().await;
                tracing::info!("shutting down");
            })
            .await?;
        Ok(())
    })
}

/// The token and TLS identity to serve with, and the check that a server reachable from the
/// network asks clients who they are.
fn credentials(args: &Serve) -> Result<(Option<String>, Option<Tls>), Box<dyn std::error::Error>> {
    let token = match &args.token_file {
        Some(path) => Some(tools::read_token(path)?),
        None => smbus_proxy_client::token(None),
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Tls::load(cert, key, args.tls_client_ca.as_deref())?),
        _ => None,
    };
    // A bus on the network is a door to every chip on it: open it only on purpose. TLS alone
    // hides the traffic but lets anyone in, so it is no answer here; a token or a client
    // certificate is.
    let authenticated = token.is_some() || tls.as_ref().is_some_and(Tls::requires_client_cert);
    if !args.listen.ip().is_loopback() {
        if !authenticated {
            if !args.insecure_network {
                return Err(format!(
                    "refusing to listen on {} without client authentication: anyone who reaches it could \
                     write to every chip on the bus. Give --token-file FILE (or SMBUS_PROXY_TOKEN) or \
                     --tls-client-ca FILE, or --insecure-network to accept the risk",
                    args.listen
                )
                .into());
            }
            tracing::warn!(listen = %args.listen, "listening beyond loopback without client authentication: anyone who reaches this port can write to the bus");
        } else if tls.is_none() {
            tracing::warn!(listen = %args.listen, "the token crosses the network in clear text; add --tls-cert and --tls-key");
        }
    }
    Ok((token, tls))
}

/// The named buses, or every /dev/i2c-N; each must open, or serving stops before it starts.
#[cfg(target_os = "linux")]
fn linux_buses(numbers: Vec<u32>) -> Result<Vec<Box<dyn Backend>>, Box<dyn std::error::Error>> {
    use smbus_proxy_server::backend::linux::LinuxBus;
    let numbers = if numbers.is_empty() {
        let found = LinuxBus::discover().map_err(|e| format!("cannot list /dev: {e}"))?;
        if found.is_empty() {
            return Err("no /dev/i2c-N here: load i2c-dev (modprobe i2c-dev), enable the bus \
                        (dtparam=i2c_arm=on on a Raspberry Pi), or serve --simulate"
                .into());
        }
        found
    } else {
        numbers
    };
    let mut buses: Vec<Box<dyn Backend>> = Vec::new();
    for n in numbers {
        buses.push(Box::new(LinuxBus::open(n)?));
    }
    Ok(buses)
}

/// The lines `--line` names, each found on the kernel's GPIO chips.
#[cfg(target_os = "linux")]
fn linux_lines(specs: &[String]) -> Result<Vec<smbus_proxy_server::NamedLine>, Box<dyn std::error::Error>> {
    let mut lines: Vec<smbus_proxy_server::NamedLine> = Vec::new();
    for spec in specs {
        let (name, at) = match spec.split_once('=') {
            Some((name, at)) => (Some(name), at),
            None => (None, spec.as_str()),
        };
        let (line, kernel_name) = smbus_proxy_server::find_line(at).map_err(|e| format!("--line {e}"))?;
        let name = match name {
            Some(name) => name.to_owned(),
            None if !kernel_name.is_empty() => kernel_name,
            None => at.to_owned(),
        };
        if name.is_empty() || name.len() > smbus_proxy_wire::line::MAX_LINE_NAME {
            return Err(format!(
                "--line {}: the name must have 1 to {} bytes",
                smbus_proxy_wire::quote::quote(spec),
                smbus_proxy_wire::line::MAX_LINE_NAME
            )
            .into());
        }
        lines.push((name, Box::new(line)));
    }
    Ok(lines)
}

#[cfg(not(target_os = "linux"))]
fn linux_lines(specs: &[String]) -> Result<Vec<smbus_proxy_server::NamedLine>, Box<dyn std::error::Error>> {
    match specs {
        [] => Ok(Vec::new()),
        _ => Err("GPIO lines need Linux's GPIO character device".into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn linux_buses(_: Vec<u32>) -> Result<Vec<Box<dyn Backend>>, Box<dyn std::error::Error>> {
    Err("real buses need Linux's i2c-dev; on this system, serve --simulate".into())
}

/// Ctrl-C or SIGTERM (what systemd and `kill` send).
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
