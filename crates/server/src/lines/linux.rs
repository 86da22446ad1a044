//! Lines of the kernel's GPIO chips, through the GPIO character device's uAPI v2 (`gpiocdev`).
//!
//! A line is requested from the kernel only while a session holds it, so between sessions
//! another program (libgpiod's tools, a service) may use it. An input with edge detection
//! has a thread that reads its edge events as the kernel queues them (`poll(2)` on the
//! request, woken to stop by a socket closed when the line is given back), so edges reach
//! the session's queue within microseconds and none waits on a timer.

use super::{Described, EdgeQueue, LineSource, RawEdge, Requested};
use gpiocdev::line::{self, EdgeKind, Value};
use gpiocdev::request::{Config, Request};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use smbus_proxy_wire::line::{Bias, Direction, Drive, Edge, Edges, EventClock, LineSettings};
use smbus_proxy_wire::{Errno, Failure};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A line of a GPIO chip.
pub struct Cdev {
    chip: PathBuf,
    offset: u32,
}

/// Where a configured line is: `CHIP:OFFSET` (the chip as `gpiochip0`, `0`, `/dev/gpiochip0`
/// or its label) or the line's name, which must be on one chip only. Returns the line and the
/// kernel's name of it.
pub fn find(spec: &str) -> Result<(Cdev, String), String> {
    let chips = gpiocdev::chip::chips().map_err(|e| format!("cannot list the GPIO chips: {e}"))?;
    let line = if let Some((chip, offset)) = spec.rsplit_once(':')
        && let Ok(offset) = offset.parse::<u32>()
    {
        let path = chips
            .iter()
            .find(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                *p == Path::new(chip)
                    || name == chip
                    || name.strip_prefix("gpiochip") == Some(chip)
                    || gpiocdev::Chip::from_path(p).and_then(|c| c.info()).is_ok_and(|i| i.label == chip)
            })
            .ok_or_else(|| format!("{chip}: no such GPIO chip (gpiodetect lists them)"))?;
        Cdev { chip: path.clone(), offset }
    } else {
        let found = chips
            .iter()
            .filter_map(|p| {
                let chip = gpiocdev::Chip::from_path(p).ok()?;
                let info = chip.find_line_info(spec)?;
                Some(Cdev { chip: p.clone(), offset: info.offset })
            })
            .collect::<Vec<_>>();
        match <[Cdev; 1]>::try_from(found) {
            Ok([line]) => line,
            Err(v) if v.is_empty() => {
                return Err(format!("{spec}: no GPIO line has this name (gpioinfo lists them)"));
            }
            Err(_) => return Err(format!("{spec}: lines of several chips have this name; say CHIP:OFFSET")),
        }
    };
    let chip = gpiocdev::Chip::from_path(&line.chip).map_err(|e| format!("{spec}: {e}"))?;
    let info = chip.line_info(line.offset).map_err(|e| format!("{spec}: {e}"))?;
    Ok((line, info.name))
}

/// The errno in a `gpiocdev` error, with its words where it has none.
fn failure(e: gpiocdev::Error) -> Failure {
    match e {
        gpiocdev::Error::Os(errno) | gpiocdev::Error::Uapi(_, gpiocdev_uapi::Error::Os(errno)) => {
            Errno(errno.0).into()
        }
        gpiocdev::Error::GpioChip(..) => Failure::detailed(Errno::ENODEV, format!(": {e}")),
        gpiocdev::Error::InvalidArgument(..) => Failure::detailed(Errno::EINVAL, format!(": {e}")),
        other => Failure::detailed(Errno::EIO, format!(": {other}")),
    }
}

impl Cdev {
    fn config(&self, s: &LineSettings) -> Config {
        let mut c = Config::default();
        c.on_chip(&self.chip).with_line(self.offset);
        match s.direction {
            Direction::Input => c.as_input(),
            Direction::Output(v) => c.as_output(Value::from(v)),
        };
        if s.active_low {
            c.as_active_low();
        }
        c.with_bias(match s.bias {
            Bias::AsIs => None,
            Bias::PullUp => Some(line::Bias::PullUp),
            Bias::PullDown => Some(line::Bias::PullDown),
            Bias::Disabled => Some(line::Bias::Disabled),
        });
        if s.is_output() {
            c.with_drive(match s.drive {
                Drive::PushPull => line::Drive::PushPull,
                Drive::OpenDrain => line::Drive::OpenDrain,
                Drive::OpenSource => line::Drive::OpenSource,
            });
        } else {
            c.with_edge_detection(match s.edges {
                Edges::None => None,
                Edges::Rising => Some(line::EdgeDetection::RisingEdge),
                Edges::Falling => Some(line::EdgeDetection::FallingEdge),
                Edges::Both => Some(line::EdgeDetection::BothEdges),
            });
            c.with_debounce_period(s.debounce);
            c.with_event_clock(match s.event_clock {
                EventClock::Monotonic => line::EventClock::Monotonic,
                EventClock::Realtime => line::EventClock::Realtime,
            });
        }
        c
    }
}

impl LineSource for Cdev {
    fn describe(&self) -> Result<Described, Errno> {
        let chip = gpiocdev::Chip::from_path(&self.chip).map_err(|e| failure(e).errno)?;
        let c = chip.info().map_err(|e| failure(e).errno)?;
        let l = chip.line_info(self.offset).map_err(|e| failure(e).errno)?;
        Ok(Described {
            chip: c.name,
            chip_label: c.label,
            offset: self.offset,
            line_name: l.name,
            used: l.used,
            consumer: l.consumer,
            output: l.direction == line::Direction::Output,
            active_low: l.active_low,
            bias: match l.bias {
                None => Bias::AsIs,
                Some(line::Bias::PullUp) => Bias::PullUp,
                Some(line::Bias::PullDown) => Bias::PullDown,
                Some(line::Bias::Disabled) => Bias::Disabled,
            },
            drive: match l.drive {
                Some(line::Drive::OpenDrain) => Drive::OpenDrain,
                Some(line::Drive::OpenSource) => Drive::OpenSource,
                _ => Drive::PushPull,
            },
            edges: match l.edge_detection {
                None => Edges::None,
                Some(line::EdgeDetection::RisingEdge) => Edges::Rising,
                Some(line::EdgeDetection::FallingEdge) => Edges::Falling,
                Some(line::EdgeDetection::BothEdges) => Edges::Both,
            },
            debounce: l.debounce_period.unwrap_or(Duration::ZERO),
            event_clock: match l.event_clock {
                Some(line::EventClock::Realtime) => EventClock::Realtime,
                _ => EventClock::Monotonic,
            },
        })
    }

    fn request(
        &self,
        settings: &LineSettings,
        consumer: &str,
        edges: Arc<EdgeQueue>,
    ) -> Result<Box<dyn Requested>, Failure> {
        let request =
            Request::from_config(self.config(settings)).with_consumer(consumer).request().map_err(failure)?;
        let request = Arc::new(request);
        let (stop, stopped) =
            UnixStream::pair().map_err(|e| Failure::from(Errno(e.raw_os_error().unwrap_or(5))))?;
        let reader = request.clone();
        let thread = std::thread::Builder::new()
            .name(format!("gpio {}", self.offset))
            .spawn(move || read_edges(&reader, &stopped, &edges))
            .map_err(|e| Failure::from(Errno(e.raw_os_error().unwrap_or(5))))?;
        Ok(Box::new(Held {
            line: Cdev { chip: self.chip.clone(), offset: self.offset },
            request,
            stop,
            thread: Some(thread),
        }))
    }
}

/// Reads the line's edge events into its queue until `stopped` is closed.
fn read_edges(request: &Request, stopped: &UnixStream, edges: &EdgeQueue) {
    loop {
        let mut fds = [
            PollFd::new(request.as_fd(), PollFlags::POLLIN),
            PollFd::new(stopped.as_fd(), PollFlags::POLLIN),
        ];
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        if fds[1].any().unwrap_or(true) {
            return;
        }
        while request.has_edge_event().unwrap_or(false) {
            let Ok(e) = request.read_edge_event() else { break };
            let edge = match e.kind {
                EdgeKind::Rising => Edge::Rising,
                EdgeKind::Falling => Edge::Falling,
            };
            edges.push(RawEdge { edge, timestamp_ns: e.timestamp_ns, seqno: u64::from(e.line_seqno) });
        }
    }
}

/// A line a session holds; the kernel gets it back when this is dropped.
struct Held {
    line: Cdev,
    request: Arc<Request>,
    stop: UnixStream,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        // Waking the reader and waiting for it leaves this the request's last holder, so the
        // line is the kernel's again before anyone is told it was given back.
        let _ = self.stop.write_all(&[0]);
        let _ = self.stop.shutdown(std::net::Shutdown::Both);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Requested for Held {
    fn get(&self) -> Result<bool, Failure> {
        self.request.lone_value().map(|v| v == Value::Active).map_err(failure)
    }

    fn set(&self, value: bool) -> Result<(), Failure> {
        self.request.set_lone_value(Value::from(value)).map_err(failure)
    }

    fn reconfigure(&self, settings: &LineSettings) -> Result<(), Failure> {
        self.request.reconfigure(&self.line.config(settings)).map_err(failure)
    }
}
