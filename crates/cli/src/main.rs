//! `smbus-proxy`: serve a Linux I2C/SMBus bus, or a simulated one, over gRPC.

mod tools;

use clap::{Parser, Subcommand};
use smbus_proxy_server::{Backend, Server};
use smbus_proxy_sim::Config;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tracing::{Level, error};

#[derive(Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve buses over gRPC (smbus.v1, with health and reflection).
    Serve(Serve),
    /// Scan a remote bus for devices, as i2cdetect does (`detect --help` for its options).
    #[command(disable_help_flag = true)]
    Detect {
        /// i2cdetect's arguments: [-y] [-a] [-q|-r] I2CBUS [FIRST LAST], -F I2CBUS, -l, --server URL
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Dump a device's registers, as i2cdump does.
    #[command(disable_help_flag = true)]
    Dump {
        /// i2cdump's arguments: [-f] [-y] [-r first-last] [-a] I2CBUS ADDRESS [MODE], --server URL
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Read a register, as i2cget does.
    #[command(disable_help_flag = true)]
    Get {
        /// i2cget's arguments: [-f] [-y] [-a] I2CBUS CHIP-ADDRESS [DATA-ADDRESS [MODE [LENGTH]]], --server URL
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Send a combined I2C transfer, as i2ctransfer does.
    #[command(disable_help_flag = true)]
    Transfer {
        /// i2ctransfer's arguments: [-f] [-y] [-v] [-a] I2CBUS DESC [DATA] [DESC [DATA]]..., --server URL
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Write a register, as i2cset does.
    #[command(disable_help_flag = true)]
    Set {
        /// i2cset's arguments: [-f] [-y] [-m MASK] [-r] [-a] I2CBUS CHIP-ADDRESS DATA-ADDRESS [VALUE]... [MODE], --server URL
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(clap::Args)]
struct Serve {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:50051", env = "SMBUS_PROXY_LISTEN")]
    listen: SocketAddr,

    /// Serve these Linux buses (/dev/i2c-N), by number; repeat for several. Without --bus or
    /// --simulate, every /dev/i2c-N there is.
    #[arg(long = "bus", value_name = "N", conflicts_with = "simulate")]
    buses: Vec<u32>,

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

    /// Listen on an address beyond loopback without a token. Anyone who reaches the port can
    /// then read and write every chip on the served buses.
    #[arg(long)]
    insecure_network: bool,

    /// Most sessions open at once; more get RESOURCE_EXHAUSTED.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65536))]
    max_sessions: u32,

    /// Most sessions open at once from one client host.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65536))]
    max_sessions_per_peer: u32,

    /// The log level of each bus operation (the server logs at info unless RUST_LOG says
    /// otherwise, so `--log-ops info` shows every operation).
    #[arg(long, value_name = "LEVEL", default_value = "debug")]
    log_ops: Level,
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr, coloured only on a terminal, so they can be piped and parsed.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Detect { args } => return tools::detect::run(args),
        Command::Dump { args } => return tools::dump::run(args),
        Command::Get { args } => return tools::get::run(args),
        Command::Set { args } => return tools::set::run(args),
        Command::Transfer { args } => return tools::transfer::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: Serve) -> Result<(), Box<dyn std::error::Error>> {
    let server = match args.simulate {
        Some(file) => Server::simulated(&match file {
            Some(path) => Config::load(&path)?,
            None => Config::demo(),
        }),
        None => Server::new(linux_buses(args.buses)?),
    };
    let token = match &args.token_file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let token = text.lines().next().unwrap_or("").trim().to_owned();
            if token.is_empty() {
                return Err(format!("{}: the first line holds no token", path.display()).into());
            }
            Some(token)
        }
        None => smbus_proxy_client::token(None),
    };
    // A bus on the network is a door to every chip on it: open it only on purpose.
    if !args.listen.ip().is_loopback() && token.is_none() {
        if !args.insecure_network {
            return Err(format!(
                "refusing to listen on {} without a token: anyone who reaches it could write to every chip \
                 on the bus. Give --token-file FILE (or SMBUS_PROXY_TOKEN), or --insecure-network to accept \
                 the risk",
                args.listen
            )
            .into());
        }
        tracing::warn!(listen = %args.listen, "listening beyond loopback without a token: anyone who reaches this port can write to the bus");
    }
    let server =
        server.lease(Duration::from_millis(args.lease_ms)).op_log_level(args.log_ops).token(token).limits(
            smbus_proxy_server::session::Limits {
                sessions: args.max_sessions as usize,
                sessions_per_peer: args.max_sessions_per_peer as usize,
            },
        );
    // One thread for the network: measured (benches/proxy.rs), it answers a call sooner and
    // with a third less CPU than a multi-thread runtime, whose wake-ups cross threads. Buses
    // that block get threads of their own, so they still run in parallel.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        server.serve(listener, shutdown_signal()).await?;
        Ok(())
    })
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

#[cfg(not(target_os = "linux"))]
fn linux_buses(_: Vec<u32>) -> Result<Vec<Box<dyn Backend>>, Box<dyn std::error::Error>> {
    Err("real buses need Linux's i2c-dev; on this system, serve --simulate".into())
}

/// Ctrl-C or SIGTERM (what systemd and `kill` send).
async fn shutdown_signal() {
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
    tracing::info!("shutting down");
}
