//! The simulator's lines as line sources.

use super::{Described, EdgeQueue, LineSource, RawEdge, Requested};
use smbus_proxy_sim::lines::{CHIP, CHIP_LABEL, LineError, SimLine};
use smbus_proxy_wire::line::{Edge, LineSettings};
use smbus_proxy_wire::{Errno, Failure};
use std::sync::Arc;
use std::time::Instant;

/// A simulated line, offered under its own name.
pub struct Sim {
    line: Arc<SimLine>,
    /// What the requester was requested as, as the kernel keeps a line's consumer.
    consumer: Arc<std::sync::Mutex<String>>,
    /// Timestamps count from here, as the kernel's monotonic clock counts from boot.
    epoch: Instant,
}

impl Sim {
    pub fn new(line: Arc<SimLine>, epoch: Instant) -> Sim {
        Sim { line, epoch, consumer: Arc::default() }
    }
}

/// The errno the kernel gives for the same mistake.
fn failure(e: LineError) -> Failure {
    match e {
        LineError::Busy => Errno::EBUSY.into(),
        // gpiolib-cdev refuses to set an input's value with EPERM.
        LineError::NotOutput => Failure::detailed(Errno::EPERM, ": the line is an input"),
        LineError::NotRequested => Errno::EBADF.into(),
    }
}

impl LineSource for Sim {
    fn describe(&self) -> Result<Described, Errno> {
        let settings = self.line.settings();
        let s = settings.unwrap_or(LineSettings::input());
        Ok(Described {
            chip: CHIP.into(),
            chip_label: CHIP_LABEL.into(),
            offset: self.line.offset(),
            line_name: self.line.name().into(),
            used: settings.is_some(),
            consumer: if settings.is_some() { crate::lock(&self.consumer).clone() } else { String::new() },
            output: s.is_output(),
            active_low: s.active_low,
            bias: s.bias,
            drive: s.drive,
            edges: s.edges,
            debounce: s.debounce,
            event_clock: s.event_clock,
        })
    }

    fn request(
        &self,
        settings: &LineSettings,
        consumer: &str,
        edges: Arc<EdgeQueue>,
    ) -> Result<Box<dyn Requested>, Failure> {
        let epoch = self.epoch;
        let mut seqno = 0;
        let on_edge = Box::new(move |edge: Edge, at: Instant| {
            seqno += 1;
            let timestamp_ns = at.saturating_duration_since(epoch).as_nanos() as u64;
            edges.push(RawEdge { edge, timestamp_ns, seqno });
        });
        self.line.request(*settings, Some(on_edge)).map_err(failure)?;
        *crate::lock(&self.consumer) = consumer.to_owned();
        Ok(Box::new(Taken(self.line.clone())))
    }
}

/// A simulated line a session holds; given back when dropped.
struct Taken(Arc<SimLine>);

impl Drop for Taken {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl Requested for Taken {
    fn get(&self) -> Result<bool, Failure> {
        self.0.value().map_err(failure)
    }

    fn set(&self, value: bool) -> Result<(), Failure> {
        self.0.set(value).map_err(failure)
    }

    fn reconfigure(&self, settings: &LineSettings) -> Result<(), Failure> {
        self.0.reconfigure(*settings).map_err(failure)
    }
}
