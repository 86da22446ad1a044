//! [`SimBus`]: one simulated adapter and the chips on it.
//!
//! An operation goes through what the kernel and the hardware would do, in order: i2c-dev
//! refuses what the adapter cannot do (EOPNOTSUPP) and addresses a kernel driver owns
//! (EBUSY, unless forced); injected faults strike; then the operation goes on the wire as one
//! combined transfer, messages joined by repeated starts. SMBus commands are lowered to the
//! messages `i2c_smbus_xfer_emulated` sends ([`Op::messages`]), so a device only ever sees I2C
//! messages. A
//! message whose address nobody acknowledges fails with ENXIO and ends the transfer, as in
//! the kernel; messages before it have already reached their devices.
//!
//! PEC is transparent: host and simulated device would both compute it correctly, so an
//! operation with PEC behaves as the plain one (it still needs the adapter's SMBUS_PEC bit).

use crate::clock::Clock;
use crate::config::{BusConfig, Model};
use crate::devices::{self, Ack, Device, Rw};
use crate::lines::{SimLine, SimLines};
use crate::replay::Player;
use crate::timing::Wire;
use bytes::Bytes;
use smbus_proxy_wire::op::{BLOCK_MAX, msg_flags};
use smbus_proxy_wire::{Command, Dir, Errno, Failure, Msg, Op, Reply, Target};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Linux adapters' usual default (`HZ` jiffies).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// A simulated I2C adapter: `/dev/i2c-{number}` with its devices and faults.
pub struct SimBus {
    number: u32,
    name: String,
    funcs: u64,
    speed_khz: Option<u32>,
    nack: Vec<u16>,
    fail_every: u64,
    fail_errno: Errno,
    timeout: Duration,
    retries: u32,
    /// Operations that reached the bus, which is what `fail_every` counts.
    ops: u64,
    devices: Vec<Slot>,
    /// Traces played back in place of devices, or of the whole bus.
    replays: Vec<Player>,
    /// Whether a device may hold the clock.
    stretches: bool,
    /// The time its chips see and it sleeps on.
    clock: Clock,
    /// The lines its devices are wired to.
    lines: SimLines,
}

struct Slot {
    addr: u16,
    ten_bit: bool,
    busy: bool,
    device: Box<dyn Device>,
    /// What it is, to power it up again after a reset.
    model: Model,
    /// Its /RESET input, if wired: the line, and the count of the times it fell.
    reset: Option<(Arc<SimLine>, Arc<AtomicU64>)>,
    /// The resets it has been through.
    resets_seen: u64,
    /// Its enable input, if wired.
    enable: Option<Arc<SimLine>>,
}

impl Slot {
    /// Whether its inputs let it answer, powering it up afresh after a reset; the line the
    /// devices were wired with is what a new one is wired to.
    fn awake(&mut self, now: Instant, lines: &SimLines) -> bool {
        if let Some((line, falls)) = &self.reset {
            if !line.level() {
                return false;
            }
            let falls = falls.load(Ordering::Relaxed);
            if falls != self.resets_seen
                && let Some(device) = devices::build(&self.model, now, lines)
            {
                self.device = device;
                self.resets_seen = falls;
            }
        }
        self.enable.as_ref().is_none_or(|line| line.level())
    }
}

impl SimBus {
    /// The bus a configuration describes, its devices freshly powered up.
    pub fn new(config: &BusConfig) -> SimBus {
        SimBus::on(config, Clock::real())
    }

    /// The same, keeping time on `clock`.
    pub fn on(config: &BusConfig, clock: Clock) -> SimBus {
        SimBus::wired(config, clock, &SimLines::default())
    }

    /// The same, its devices wired to `lines` as the configuration says (a line it names that
    /// `lines` lacks is left unconnected).
    pub fn wired(config: &BusConfig, clock: Clock, lines: &SimLines) -> SimBus {
        let powered_up = clock.now();
        SimBus {
            number: config.number,
            name: config.name.clone(),
            funcs: config.funcs,
            speed_khz: config.speed_khz,
            nack: config.nack.clone(),
            fail_every: config.fail_every,
            fail_errno: config.fail_errno,
            timeout: DEFAULT_TIMEOUT,
            retries: 0,
            ops: 0,
            stretches: config.devices.iter().any(|d| d.model.stretches_the_clock()),
            devices: config
                .devices
                .iter()
                .filter_map(|d| {
                    let device = devices::build(&d.model, powered_up, lines)?;
                    let reset = d.reset.as_deref().and_then(|name| lines.line(name)).map(|line| {
                        let falls = Arc::new(AtomicU64::new(0));
                        let counted = falls.clone();
                        line.watch(Box::new(move |level| {
                            if !level {
                                counted.fetch_add(1, Ordering::Relaxed);
                            }
                        }));
                        (line.clone(), falls)
                    });
                    let enable = d.enable.as_deref().and_then(|name| lines.line(name)).cloned();
                    Some(Slot {
                        addr: d.addr,
                        ten_bit: d.ten_bit,
                        busy: d.busy,
                        device,
                        model: d.model.clone(),
                        reset,
                        resets_seen: 0,
                        enable,
                    })
                })
                .collect(),
            replays: config
                .devices
                .iter()
                .filter_map(|d| match &d.model {
                    Model::Replay(replay) => Some(Player::new(replay)),
                    _ => None,
                })
                .chain(config.replay.iter().map(Player::new))
                .collect(),
            clock,
            lines: lines.clone(),
        }
    }

    /// The N of /dev/i2c-N.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The adapter's name, as `i2cdetect -l` shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `I2C_FUNC_*` mask, as the `I2C_FUNCS` ioctl reports it.
    pub fn funcs(&self) -> u64 {
        self.funcs
    }

    /// Whether operations may take time, sleeping the calling thread for it: wire time at a
    /// set clock speed, or a chip stretching the clock.
    pub fn sleeps(&self) -> bool {
        self.speed_khz.is_some() || self.stretches
    }

    /// The addresses a kernel driver would own (`busy` devices): (address, 10-bit).
    pub fn busy(&self) -> Vec<(u16, bool)> {
        self.devices.iter().filter(|s| s.busy).map(|s| (s.addr, s.ten_bit)).collect()
    }

    /// The adapter timeout (`I2C_TIMEOUT`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The adapter timeout (`I2C_TIMEOUT`): an operation whose wire time would exceed it
    /// holds the bus for the timeout and fails with ETIMEDOUT. One second until set.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The retry count (`I2C_RETRIES`).
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The retry count (`I2C_RETRIES`), kept so it reads back as set. Adapters retry only
    /// after losing arbitration, which cannot happen with one simulated master.
    pub fn set_retries(&mut self, retries: u32) {
        self.retries = retries;
    }

    /// Now, on the bus's clock.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Holds the bus (and the calling thread) for `time` on its clock: a transaction's wait,
    /// or the pause between a poll's tries.
    pub fn wait(&self, time: Duration) {
        self.clock.sleep(time);
    }

    /// A transaction of `session` begins. A strict replay plays its trace once per session:
    /// the first transaction of a session it has not played to starts it again from the top,
    /// so the recorded program runs again each time it is started.
    pub fn begin(&mut self, session: u128) {
        for replay in &mut self.replays {
            replay.begin(session);
        }
    }

    /// Runs one operation, sleeping for its wire time if the bus has a clock speed; a replay
    /// answers for its device at once.
    pub fn execute(&mut self, op: &Op) -> Result<Reply, Failure> {
        self.adapter(op)?;
        if let Some(replay) = self.replays.iter_mut().find(|r| r.claims(op)) {
            return replay.execute(op);
        }
        self.wire(op).map_err(Failure::from)
    }

    #[cfg(test)]
    fn run(&mut self, op: &Op) -> Result<Reply, Errno> {
        self.execute(op).map_err(|failure| failure.errno)
    }

    /// What the adapter and i2c-dev refuse, and the faults that strike, before the bus.
    fn adapter(&mut self, op: &Op) -> Result<(), Errno> {
        if op.required_func() & !self.funcs != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        // No kernel drivers exist here, so force has nothing to override except a device
        // configured busy. I2C_RDWR ignores driver ownership in the kernel, and so here.
        if let Op::Smbus { target, .. } = op
            && !target.force
            && self.devices.iter().any(|s| s.busy && s.addr == target.addr && s.ten_bit == target.ten_bit)
        {
            return Err(Errno::EBUSY);
        }
        self.ops += 1;
        if self.fail_every != 0 && self.ops.is_multiple_of(self.fail_every) {
            return Err(self.fail_errno);
        }
        Ok(())
    }

    /// The operation on the wire.
    fn wire(&mut self, op: &Op) -> Result<Reply, Errno> {
        let mut xfer = Xfer {
            devices: &mut self.devices,
            lines: &self.lines,
            nack: &self.nack,
            wire: Wire::new(self.speed_khz, self.timeout),
            start: self.clock.now(),
        };
        let result = match op {
            Op::Smbus { target, command } => xfer.smbus(target, command),
            Op::Transfer(msgs) => xfer.transfer(msgs).map(Reply::Transfer),
        };
        let stopped = xfer.stop();
        self.clock.sleep(xfer.wire.busy());
        result.and_then(|reply| stopped.map(|()| reply))
    }
}

impl fmt::Debug for SimBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimBus")
            .field("number", &self.number)
            .field("name", &self.name)
            .field("funcs", &format_args!("{:#x}", self.funcs))
            .field("devices", &self.devices.iter().map(|s| format!("{:#x}", s.addr)).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// One combined transfer on the wire, timed as it goes.
struct Xfer<'a> {
    devices: &'a mut [Slot],
    /// What the devices are wired to, for one powered up again after a reset.
    lines: &'a SimLines,
    nack: &'a [u16],
    wire: Wire,
    /// When the operation began; with the wire time so far, the bus time devices see.
    start: Instant,
}

impl Xfer<'_> {
    fn now(&self) -> Instant {
        self.start + self.wire.elapsed()
    }

    /// A (repeated) start and the address: the device that acknowledges it, if any. A
    /// `nack` address stays silent whether or not a device sits there; a device may decline
    /// to acknowledge, or hold the clock before it sends.
    fn address(&mut self, addr: u16, ten_bit: bool, rw: Rw) -> Result<Option<usize>, Errno> {
        self.wire.address(ten_bit)?;
        if self.nack.contains(&addr) {
            return Ok(None);
        }
        let Some(i) = self.devices.iter().position(|s| s.addr == addr && s.ten_bit == ten_bit) else {
            return Ok(None);
        };
        let now = self.now();
        // Held in reset or shut down, a chip does not acknowledge.
        if !self.devices[i].awake(now, self.lines) {
            return Ok(None);
        }
        match self.devices[i].device.address(rw, now) {
            Ack::Nack => return Ok(None),
            Ack::Ack => {}
            Ack::Stretch(hold) => self.wire.stretch(hold)?,
        }
        Ok(Some(i))
    }

    /// The stop condition, which every device on the bus sees.
    fn stop(&mut self) -> Result<(), Errno> {
        let stopped = self.wire.stop();
        let now = self.now();
        for slot in self.devices.iter_mut() {
            slot.device.stop(now);
        }
        stopped
    }

    /// An SMBus command: the messages the kernel would send for it, and its reply from
    /// what they read.
    fn smbus(&mut self, t: &Target, command: &Command) -> Result<Reply, Errno> {
        let reads = self.transfer(&command.messages(t))?;
        Ok(command.reply_from(&reads).expect("a device reads what each message asks for"))
    }

    /// An I2C_RDWR transfer.
    ///
    /// IGNORE_NAK lets a message go on without an acknowledge: its writes go nowhere and its
    /// reads see the idle, pulled-up bus (0xFF). NOSTART joins a message to the one before
    /// it when both go the same way, so the device sees one message; on the first message, or
    /// across a change of direction, it is an ordinary message. STOP, NO_RD_ACK and
    /// REV_DIR_ADDR change only electrical details no simulated device can observe, so they
    /// are accepted and have no effect.
    fn transfer(&mut self, msgs: &[Msg]) -> Result<Vec<Bytes>, Errno> {
        let mut reads = Vec::new();
        let continues = |a: &Msg, b: &Msg| b.flags & msg_flags::NOSTART != 0 && is_read(a) == is_read(b);
        for joined in msgs.chunk_by(continues) {
            let first = &joined[0];
            let rw = if is_read(first) { Rw::Read } else { Rw::Write };
            let device = match self.address(first.addr, first.ten_bit(), rw)? {
                Some(i) => Some(i),
                None if first.flags & msg_flags::IGNORE_NAK != 0 => None,
                None => return Err(Errno::ENXIO),
            };
            if is_read(first) {
                for (k, m) in joined.iter().enumerate() {
                    let (counted, len) = (m.counted(), read_len(m).unwrap_or(0));
                    // A counted read starts with its count byte; the bytes after it follow.
                    let first_part = if counted { 1 } else { len };
                    self.wire.bytes(first_part)?;
                    let mut buf = vec![0xFF; first_part];
                    if let Some(i) = device {
                        let device = &mut self.devices[i].device;
                        if k == 0 { device.read(&mut buf) } else { device.read_more(&mut buf) }?;
                    }
                    if counted {
                        // What the kernel's drivers do with a count of 0 or more than 32.
                        let count = usize::from(buf[0]);
                        if !(1..=BLOCK_MAX).contains(&count) {
                            return Err(Errno::EPROTO);
                        }
                        self.wire.bytes(count)?;
                        buf.resize(1 + count, 0xFF);
                        if let Some(i) = device {
                            self.devices[i].device.read_more(&mut buf[1..])?;
                        }
                    }
                    reads.push(Bytes::from(buf));
                }
            } else {
                // Messages joined by NOSTART are one write to the device; most stand alone.
                let data: std::borrow::Cow<[u8]> = match joined {
                    [one] => written(one).into(),
                    _ => joined.iter().flat_map(written).copied().collect::<Vec<u8>>().into(),
                };
                self.wire.bytes(data.len())?;
                if let Some(i) = device {
                    self.devices[i].device.write(&data)?;
                }
            }
        }
        Ok(reads)
    }
}

fn is_read(m: &Msg) -> bool {
    matches!(m.dir, Dir::Read(_))
}

fn read_len(m: &Msg) -> Option<usize> {
    match m.dir {
        Dir::Read(n) => Some(usize::from(n)),
        Dir::Write(_) => None,
    }
}

fn written(m: &Msg) -> &[u8] {
    match &m.dir {
        Dir::Write(data) => data,
        Dir::Read(_) => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use std::time::Instant;

    const LAB: &str = r#"
        [[bus]]
        number = 1

        [[bus.device]]
        model = "si4703"
        addr = 0x10

        [[bus.device]]
        model = "pcf8574"
        addr = 0x20
        inputs = 0xF0

        [[bus.device]]
        model = "register-file"
        addr = 0x48
        registers = [0x11, 0x22, 0x33, 0x44]

        [[bus.device]]
        model = "eeprom-24c02"
        addr = 0x50

        [[bus.device]]
        model = "register-file"
        addr = 0x048
        ten_bit = true
        registers = [0xA0]

        [[bus.device]]
        model = "register-file"
        addr = 0x36
        busy = true
        registers = [0x36]
    "#;

    fn bus(toml: &str) -> SimBus {
        Config::parse(toml).unwrap().build().remove(0)
    }

    fn lab() -> SimBus {
        bus(LAB)
    }

    /// A one-bus config with `extra` bus settings and a register file at 0x48.
    fn with(extra: &str) -> SimBus {
        bus(&format!(
            "[[bus]]\nnumber = 1\n{extra}\n[[bus.device]]\nmodel = \"register-file\"\naddr = 0x48\n"
        ))
    }

    fn run(bus: &mut SimBus, addr: u16, command: Command) -> Result<Reply, Errno> {
        bus.run(&Op::smbus(addr, command))
    }

    fn block(data: &[u8]) -> Reply {
        Reply::Block(Bytes::copy_from_slice(data))
    }

    fn byte_at(bus: &mut SimBus, addr: u16, reg: u8) -> u8 {
        match run(bus, addr, Command::ReadByteData { reg }) {
            Ok(Reply::Byte(b)) => b,
            other => panic!("read_byte_data: {other:?}"),
        }
    }

    fn transfer(bus: &mut SimBus, msgs: Vec<Msg>) -> Result<Vec<Vec<u8>>, Errno> {
        match bus.run(&Op::Transfer(msgs))? {
            Reply::Transfer(reads) => Ok(reads.into_iter().map(|b| b.to_vec()).collect()),
            other => panic!("transfer answered {other:?}"),
        }
    }

    fn flagged(mut msg: Msg, flags: u16) -> Msg {
        msg.flags = flags;
        msg
    }

    #[test]
    fn si4703_dump_as_real_hardware_showed_it() {
        let mut bus = lab();
        let dump = run(&mut bus, 0x10, Command::ReadI2cBlockData { reg: 0x0A, len: 32 }).unwrap();
        #[rustfmt::skip]
        let expected = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x0A–0x0F
            0x12, 0x42, 0x12, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x00–0x05
            0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,                         // 0x06–0x09
        ];
        assert_eq!(dump, block(&expected));
    }

    #[test]
    fn demo_bus_has_the_si4703() {
        let mut buses = Config::demo().build();
        assert_eq!(buses.len(), 1);
        let bus = &mut buses[0];
        assert_eq!((bus.number(), bus.name()), (1, "smbus-proxy simulated bus 1"));
        assert_eq!(bus.funcs(), crate::config::FUNCS_FULL);
        let dump = run(bus, 0x10, Command::ReadI2cBlockData { reg: 0x0A, len: 32 }).unwrap();
        assert_eq!(
            dump,
            block(&[[0; 12].as_slice(), &[0x12, 0x42, 0x12, 0x00, 0x0a], &[0; 9], &[1], &[0; 5]].concat())
        );
        for addr in [0x20, 0x48, 0x50] {
            assert_eq!(run(bus, addr, Command::WriteQuick { bit: 0 }), Ok(Reply::Done), "{addr:#x}");
        }
    }

    #[test]
    fn si4703_ignores_the_command_byte_and_has_no_block_count() {
        let mut bus = lab();
        assert_eq!(run(&mut bus, 0x10, Command::ReadWordData { reg: 0x00 }), Ok(Reply::Word(0x0000)));
        // The count byte is register 0x0A's high byte, 0: not a valid block.
        assert_eq!(run(&mut bus, 0x10, Command::ReadBlockData { reg: 0x0A }), Err(Errno::EPROTO));
        // write_word_data(0x40, 0x0001) is three bytes into 0x02 high, 0x02 low, 0x03 high.
        run(&mut bus, 0x10, Command::WriteWordData { reg: 0x40, value: 0x0001 }).unwrap();
        let regs = transfer(&mut bus, vec![Msg::read(0x10, 32)]).unwrap().remove(0);
        assert_eq!(regs[16..20], [0x40, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn register_file_every_smbus_command() {
        let mut bus = lab();
        let mut run = |command| run(&mut bus, 0x48, command);
        assert_eq!(run(Command::WriteQuick { bit: 0 }), Ok(Reply::Done));
        assert_eq!(run(Command::WriteQuick { bit: 1 }), Ok(Reply::Done));
        assert_eq!(run(Command::ReadByte), Ok(Reply::Byte(0x11)));
        assert_eq!(run(Command::ReadByte), Ok(Reply::Byte(0x22)));
        assert_eq!(run(Command::WriteByte { value: 0x03 }), Ok(Reply::Done));
        assert_eq!(run(Command::ReadByte), Ok(Reply::Byte(0x44)));
        assert_eq!(run(Command::ReadByteData { reg: 2 }), Ok(Reply::Byte(0x33)));
        assert_eq!(run(Command::WriteByteData { reg: 5, value: 0x55 }), Ok(Reply::Done));
        assert_eq!(run(Command::ReadByteData { reg: 5 }), Ok(Reply::Byte(0x55)));
        assert_eq!(run(Command::ReadWordData { reg: 0 }), Ok(Reply::Word(0x2211)));
        assert_eq!(run(Command::WriteWordData { reg: 0x10, value: 0xBEEF }), Ok(Reply::Done));
        assert_eq!(run(Command::ReadI2cBlockData { reg: 0x10, len: 2 }), Ok(block(&[0xEF, 0xBE])));

        // process_call writes the word to reg, reg+1 and reads the next two.
        run(Command::WriteI2cBlockData { reg: 0x22, data: Bytes::from_static(&[0x78, 0x56]) }).unwrap();
        assert_eq!(run(Command::ProcessCall { reg: 0x20, value: 0x1234 }), Ok(Reply::Word(0x5678)));
        assert_eq!(run(Command::ReadWordData { reg: 0x20 }), Ok(Reply::Word(0x1234)));

        // A block write stores the count too; a block read takes its length from the device.
        let data = Bytes::from_static(&[1, 2, 3]);
        assert_eq!(run(Command::WriteBlockData { reg: 0x30, data }), Ok(Reply::Done));
        assert_eq!(run(Command::ReadI2cBlockData { reg: 0x30, len: 4 }), Ok(block(&[3, 1, 2, 3])));
        assert_eq!(run(Command::ReadBlockData { reg: 0x30 }), Ok(block(&[1, 2, 3])));

        run(Command::WriteI2cBlockData { reg: 0x42, data: Bytes::from_static(&[2, 7, 8, 9]) }).unwrap();
        let data = Bytes::from_static(&[0xCC]);
        assert_eq!(run(Command::BlockProcessCall { reg: 0x40, data }), Ok(block(&[7, 8])));
        assert_eq!(run(Command::ReadI2cBlockData { reg: 0x40, len: 2 }), Ok(block(&[1, 0xCC])));

        // Counts outside 1–32 are a protocol error.
        run(Command::WriteByteData { reg: 0x60, value: 33 }).unwrap();
        assert_eq!(run(Command::ReadBlockData { reg: 0x60 }), Err(Errno::EPROTO));
        assert_eq!(run(Command::ReadBlockData { reg: 0x61 }), Err(Errno::EPROTO));
        run(Command::WriteByteData { reg: 0x60, value: 32 }).unwrap();
        assert_eq!(run(Command::ReadBlockData { reg: 0x60 }), Ok(block(&[0; 32])));
    }

    #[test]
    fn a_counted_read_takes_its_length_from_the_device() {
        let mut bus = lab();
        let data = Bytes::from_static(&[1, 2, 3]);
        run(&mut bus, 0x48, Command::WriteBlockData { reg: 0x30, data }).unwrap();
        let counted = vec![Msg::write(0x48, vec![0x30]), Msg::read_counted(0x48)];
        assert_eq!(transfer(&mut bus, counted.clone()), Ok(vec![vec![3, 1, 2, 3]]));
        // A count of 0 or over 32 is a protocol error, as the kernel's drivers answer it.
        run(&mut bus, 0x48, Command::WriteByteData { reg: 0x30, value: 33 }).unwrap();
        assert_eq!(transfer(&mut bus, counted.clone()), Err(Errno::EPROTO));
        run(&mut bus, 0x48, Command::WriteByteData { reg: 0x30, value: 0 }).unwrap();
        assert_eq!(transfer(&mut bus, counted), Err(Errno::EPROTO));
    }

    #[test]
    fn register_file_auto_increment_wraps() {
        let mut bus = lab();
        let data = Bytes::from_static(&[1, 2, 3]);
        run(&mut bus, 0x48, Command::WriteI2cBlockData { reg: 0xFE, data }).unwrap();
        assert_eq!(
            run(&mut bus, 0x48, Command::ReadI2cBlockData { reg: 0xFF, len: 3 }),
            Ok(block(&[2, 3, 0x22]))
        );
        assert_eq!(run(&mut bus, 0x48, Command::ReadWordData { reg: 0xFF }), Ok(Reply::Word(0x0302)));
    }

    /// Polls with empty writes, as EEPROM drivers do, until the device acknowledges; how
    /// many polls it took.
    fn ack_poll(bus: &mut SimBus, addr: u16) -> u32 {
        let mut polls = 1;
        while run(bus, addr, Command::WriteQuick { bit: 0 }) == Err(Errno::ENXIO) {
            polls += 1;
            assert!(polls < 100_000, "still busy");
        }
        polls
    }

    #[test]
    fn eeprom_page_write_wraps_and_sequential_read_does_not() {
        let mut bus = lab();
        let data = Bytes::from_static(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        run(&mut bus, 0x50, Command::WriteI2cBlockData { reg: 0x06, data }).unwrap();
        // The write cycle: nothing is acknowledged until it ends.
        assert_eq!(run(&mut bus, 0x50, Command::ReadByteData { reg: 0x00 }), Err(Errno::ENXIO));
        assert!(ack_poll(&mut bus, 0x50) > 1);
        // 0 and 1 went to 0x06 and 0x07, then 2..=9 to 0x00..=0x07 of the same page.
        let all = run(&mut bus, 0x50, Command::ReadI2cBlockData { reg: 0x00, len: 10 }).unwrap();
        assert_eq!(all, block(&[2, 3, 4, 5, 6, 7, 8, 9, 0xFF, 0xFF]));
        // A random read is a dummy write of the address, then a sequential read; the dummy
        // write starts no write cycle.
        let reads = transfer(&mut bus, vec![Msg::write(0x50, vec![0x07]), Msg::read(0x50, 2)]).unwrap();
        assert_eq!(reads, [vec![9, 0xFF]]);
        assert_eq!(run(&mut bus, 0x50, Command::ReadByte), Ok(Reply::Byte(0xFF)));
        assert_eq!(run(&mut bus, 0x50, Command::ReadByteData { reg: 0x03 }), Ok(Reply::Byte(5)));
    }

    const CHIPS: &str = r#"
        [[bus]]
        number = 1

        [[bus.device]]
        model = "eeprom-24c32"
        addr = 0x50

        [[bus.device]]
        model = "register-map"
        addr = 0x37
        [[bus.device.register]]
        at = 0x00
        width = 16
        value = 0x1900
        read_only = true
        [[bus.device.register]]
        at = 0x03
        width = 16
        value = 0x5000
        write_mask = 0xFF80

        [[bus.device]]
        model = "sht3x"
        addr = 0x44
        temperature = 25.0
        humidity = 50.0
    "#;

    #[test]
    fn eeprom_with_two_address_bytes_through_smbus_and_transfers() {
        let mut bus = bus(CHIPS);
        // smbus2-style drivers put the high address byte in the command byte.
        let data = Bytes::from_static(&[0x20, 0xAA, 0xBB]);
        run(&mut bus, 0x50, Command::WriteI2cBlockData { reg: 0x01, data }).unwrap();
        ack_poll(&mut bus, 0x50);
        let reads = transfer(&mut bus, vec![Msg::write(0x50, vec![0x01, 0x20]), Msg::read(0x50, 3)]).unwrap();
        assert_eq!(reads, [vec![0xAA, 0xBB, 0xFF]]);
        // Setting the address with write_byte_data starts no write cycle.
        run(&mut bus, 0x50, Command::WriteByteData { reg: 0x01, value: 0x21 }).unwrap();
        assert_eq!(run(&mut bus, 0x50, Command::ReadByte), Ok(Reply::Byte(0xBB)));
    }

    #[test]
    fn register_map_through_smbus() {
        let mut bus = bus(CHIPS);
        // SMBus words are little-endian, so a big-endian register reads swapped, as
        // `i2cget ... w` shows an LM75's temperature.
        assert_eq!(run(&mut bus, 0x37, Command::ReadWordData { reg: 0x00 }), Ok(Reply::Word(0x0019)));
        run(&mut bus, 0x37, Command::WriteWordData { reg: 0x03, value: 0xFF55 }).unwrap();
        assert_eq!(
            run(&mut bus, 0x37, Command::ReadI2cBlockData { reg: 0x03, len: 2 }),
            Ok(block(&[0x55, 0x80]))
        );
        assert_eq!(run(&mut bus, 0x37, Command::ReadByteData { reg: 0x01 }), Err(Errno::EREMOTEIO));
        run(&mut bus, 0x37, Command::WriteWordData { reg: 0x00, value: 0 }).unwrap();
        assert_eq!(run(&mut bus, 0x37, Command::ReadByteData { reg: 0x00 }), Ok(Reply::Byte(0x19)));
    }

    #[test]
    fn sht3x_nacks_a_read_during_the_measurement() {
        let mut bus = bus(CHIPS);
        transfer(&mut bus, vec![Msg::write(0x44, vec![0x24, 0x00])]).unwrap();
        assert_eq!(transfer(&mut bus, vec![Msg::read(0x44, 6)]), Err(Errno::ENXIO));
        std::thread::sleep(Duration::from_millis(15));
        let reads = transfer(&mut bus, vec![Msg::read(0x44, 6)]).unwrap();
        // 25 °C and 50 %RH, with their CRCs.
        assert_eq!(reads, [vec![0x66, 0x66, 0x93, 0x80, 0x00, 0xA2]]);
    }

    #[test]
    fn sht3x_clock_stretching_is_bus_time_and_meets_the_timeout() {
        let mut bus = bus(CHIPS);
        assert!(bus.sleeps(), "a chip that stretches the clock makes the bus block");
        transfer(&mut bus, vec![Msg::write(0x44, vec![0x2C, 0x06])]).unwrap();
        let start = Instant::now();
        let reads = transfer(&mut bus, vec![Msg::read(0x44, 6)]).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(10), "held for {:?}", start.elapsed());
        assert_eq!(reads[0][..3], [0x66, 0x66, 0x93]);
        bus.set_timeout(Duration::from_millis(5));
        transfer(&mut bus, vec![Msg::write(0x44, vec![0x2C, 0x06])]).unwrap();
        assert_eq!(transfer(&mut bus, vec![Msg::read(0x44, 6)]), Err(Errno::ETIMEDOUT));
    }

    #[test]
    fn pcf8574_reads_latch_and_inputs() {
        let mut bus = lab();
        assert_eq!(run(&mut bus, 0x20, Command::ReadByte), Ok(Reply::Byte(0xF0)));
        run(&mut bus, 0x20, Command::WriteByte { value: 0x3C }).unwrap();
        assert_eq!(run(&mut bus, 0x20, Command::ReadByte), Ok(Reply::Byte(0x30)));
        // Several bytes in one message: each is latched in turn, each read samples the port.
        let reads = transfer(&mut bus, vec![Msg::write(0x20, vec![0x00, 0xFF, 0xA5]), Msg::read(0x20, 2)]);
        assert_eq!(reads, Ok(vec![vec![0xA0, 0xA0]]));
    }

    #[test]
    fn transfer_replies_one_buffer_per_read_in_order() {
        let mut bus = lab();
        let reads = transfer(
            &mut bus,
            vec![
                Msg::write(0x48, vec![0x02]),
                Msg::read(0x48, 2),
                Msg::write(0x48, vec![0x00]),
                Msg::read(0x48, 1),
                Msg::read(0x48, 0),
                Msg::write(0x50, vec![]),
            ],
        );
        assert_eq!(reads, Ok(vec![vec![0x33, 0x44], vec![0x11], vec![]]));
        assert_eq!(transfer(&mut bus, vec![Msg::write(0x48, vec![0x09, 0x99])]), Ok(vec![]));
        assert_eq!(byte_at(&mut bus, 0x48, 0x09), 0x99);
    }

    #[test]
    fn nostart_continues_the_message_before() {
        let mut bus = lab();
        let msgs = vec![
            Msg::write(0x48, vec![0x70]),
            flagged(Msg::write(0x48, vec![0x5A, 0x5B]), msg_flags::NOSTART),
        ];
        transfer(&mut bus, msgs).unwrap();
        assert_eq!((byte_at(&mut bus, 0x48, 0x70), byte_at(&mut bus, 0x48, 0x71)), (0x5A, 0x5B));
        // The Si4703 restarts at 0x0A for each read message, not for a continued one.
        let msgs =
            vec![Msg::read(0x10, 12), flagged(Msg::read(0x10, 2), msg_flags::NOSTART), Msg::read(0x10, 2)];
        let reads = transfer(&mut bus, msgs).unwrap();
        assert_eq!(reads[1..], [vec![0x12, 0x42], vec![0x00, 0x00]]);
    }

    #[test]
    fn no_device_means_enxio() {
        let mut bus = lab();
        for command in [Command::WriteQuick { bit: 0 }, Command::ReadByte, Command::ReadByteData { reg: 0 }] {
            assert_eq!(run(&mut bus, 0x49, command), Err(Errno::ENXIO));
        }
        assert_eq!(transfer(&mut bus, vec![Msg::read(0x77, 1)]), Err(Errno::ENXIO));
    }

    #[test]
    fn a_failed_message_ends_the_transfer() {
        let mut bus = lab();
        let msgs = vec![
            Msg::write(0x48, vec![0x60, 0xAA]),
            Msg::write(0x49, vec![1]),
            Msg::write(0x48, vec![0x61, 0xBB]),
        ];
        assert_eq!(transfer(&mut bus, msgs), Err(Errno::ENXIO));
        assert_eq!((byte_at(&mut bus, 0x48, 0x60), byte_at(&mut bus, 0x48, 0x61)), (0xAA, 0x00));
    }

    #[test]
    fn nack_list_silences_present_devices() {
        let mut bus = with("nack = [0x48, 0x30]");
        assert_eq!(run(&mut bus, 0x48, Command::ReadByte), Err(Errno::ENXIO));
        assert_eq!(run(&mut bus, 0x30, Command::WriteQuick { bit: 0 }), Err(Errno::ENXIO));
        assert_eq!(transfer(&mut bus, vec![Msg::write(0x48, vec![0])]), Err(Errno::ENXIO));
    }

    #[test]
    fn ignore_nak_reads_the_idle_bus() {
        let mut bus = with("nack = [0x48]");
        let msgs = vec![
            flagged(Msg::write(0x48, vec![0x00, 0x12]), msg_flags::IGNORE_NAK),
            flagged(Msg::read(0x49, 3), msg_flags::IGNORE_NAK),
        ];
        assert_eq!(transfer(&mut bus, msgs), Ok(vec![vec![0xFF; 3]]));
        // The write went nowhere: the device NACKed its address and heard nothing.
        let mut bus_without_nack = with("");
        let msgs =
            vec![flagged(Msg::write(0x48, vec![0x00, 0x12]), msg_flags::IGNORE_NAK), Msg::read(0x48, 1)];
        assert_eq!(transfer(&mut bus_without_nack, msgs), Ok(vec![vec![0x00]]));
        assert_eq!(transfer(&mut bus, vec![Msg::write(0x00, vec![0x00])]), Err(Errno::ENXIO));
    }

    #[test]
    fn fail_every_counts_every_op_that_reaches_the_bus() {
        let mut bus =
            bus("[[bus]]\nnumber = 1\nfuncs = \"bcm2835\"\nfail_every = 3\nfail_errno = \"EAGAIN\"\n\
             [[bus.device]]\nmodel = \"register-file\"\naddr = 0x48\n");
        let read = Command::ReadByte;
        assert_eq!(run(&mut bus, 0x48, read.clone()), Ok(Reply::Byte(0)));
        assert_eq!(run(&mut bus, 0x49, read.clone()), Err(Errno::ENXIO));
        assert_eq!(run(&mut bus, 0x48, read.clone()), Err(Errno::EAGAIN));
        // Refused by the kernel before reaching the bus: not counted.
        assert_eq!(run(&mut bus, 0x48, Command::ReadBlockData { reg: 0 }), Err(Errno::EOPNOTSUPP));
        assert_eq!(run(&mut bus, 0x48, read.clone()), Ok(Reply::Byte(0)));
        assert_eq!(run(&mut bus, 0x48, read.clone()), Ok(Reply::Byte(0)));
        assert_eq!(run(&mut bus, 0x48, read.clone()), Err(Errno::EAGAIN));
        // The injected failure never reached the device.
        assert_eq!(run(&mut bus, 0x48, Command::WriteByteData { reg: 1, value: 1 }), Ok(Reply::Done));
        assert_eq!(run(&mut bus, 0x48, Command::WriteByteData { reg: 2, value: 2 }), Ok(Reply::Done));
        assert_eq!(run(&mut bus, 0x48, Command::WriteByteData { reg: 3, value: 3 }), Err(Errno::EAGAIN));
        assert_eq!(run(&mut bus, 0x48, Command::ReadI2cBlockData { reg: 1, len: 3 }), Ok(block(&[1, 2, 0])));
    }

    #[test]
    fn adapter_functionality_is_enforced() {
        let mut pi = with("funcs = \"bcm2835\"");
        assert_eq!(run(&mut pi, 0x48, Command::ReadBlockData { reg: 0 }), Err(Errno::EOPNOTSUPP));
        let data = Bytes::from_static(&[1]);
        assert_eq!(run(&mut pi, 0x48, Command::BlockProcessCall { reg: 0, data }), Err(Errno::EOPNOTSUPP));
        let ten_bit = Target { ten_bit: true, ..Target::new(0x48) };
        assert_eq!(
            pi.run(&Op::Smbus { target: ten_bit, command: Command::ReadByte }),
            Err(Errno::EOPNOTSUPP)
        );
        assert_eq!(transfer(&mut pi, vec![Msg::read(0x48, 1)]), Ok(vec![vec![0]]));
        let mangled = flagged(Msg::read(0x48, 1), msg_flags::IGNORE_NAK);
        assert_eq!(transfer(&mut pi, vec![mangled]), Err(Errno::EOPNOTSUPP));

        let mut pc = with("funcs = \"i801\"");
        assert_eq!(transfer(&mut pc, vec![Msg::read(0x48, 1)]), Err(Errno::EOPNOTSUPP));
        assert_eq!(run(&mut pc, 0x48, Command::ReadBlockData { reg: 0 }), Err(Errno::EPROTO));
        assert_eq!(run(&mut pc, 0x48, Command::ProcessCall { reg: 0, value: 0 }), Err(Errno::EOPNOTSUPP));

        let mut bare = with(&format!("funcs = {}", smbus_proxy_wire::funcs::SMBUS_BYTE));
        assert_eq!(run(&mut bare, 0x48, Command::ReadByte), Ok(Reply::Byte(0)));
        let pec = Target { pec: true, ..Target::new(0x48) };
        assert_eq!(bare.run(&Op::Smbus { target: pec, command: Command::ReadByte }), Err(Errno::EOPNOTSUPP));
    }

    #[test]
    fn pec_is_transparent() {
        let mut bus = lab();
        let target = Target { pec: true, ..Target::new(0x48) };
        let op = Op::Smbus { target, command: Command::WriteWordData { reg: 0x08, value: 0xCAFE } };
        assert_eq!(bus.run(&op), Ok(Reply::Done));
        let op = Op::Smbus { target, command: Command::ReadWordData { reg: 0x08 } };
        assert_eq!(bus.run(&op), Ok(Reply::Word(0xCAFE)));
    }

    #[test]
    fn busy_address_needs_force_for_smbus_only() {
        let mut bus = lab();
        assert_eq!(run(&mut bus, 0x36, Command::ReadByte), Err(Errno::EBUSY));
        assert_eq!(run(&mut bus, 0x36, Command::WriteQuick { bit: 0 }), Err(Errno::EBUSY));
        let forced = Target { force: true, ..Target::new(0x36) };
        assert_eq!(bus.run(&Op::Smbus { target: forced, command: Command::ReadByte }), Ok(Reply::Byte(0x36)));
        assert_eq!(transfer(&mut bus, vec![Msg::read(0x36, 1)]), Ok(vec![vec![0]]));
        // Force changes nothing elsewhere: an empty address still NACKs.
        let forced = Target { force: true, ..Target::new(0x37) };
        assert_eq!(bus.run(&Op::Smbus { target: forced, command: Command::ReadByte }), Err(Errno::ENXIO));
    }

    #[test]
    fn ten_bit_and_seven_bit_addresses_are_different_devices() {
        let mut bus = lab();
        let ten = Target { ten_bit: true, ..Target::new(0x048) };
        assert_eq!(bus.run(&Op::Smbus { target: ten, command: Command::ReadByte }), Ok(Reply::Byte(0xA0)));
        assert_eq!(run(&mut bus, 0x48, Command::ReadByte), Ok(Reply::Byte(0x11)));
        let ten = |msg| flagged(msg, msg_flags::TEN);
        let reads =
            transfer(&mut bus, vec![ten(Msg::write(0x048, vec![0x00, 0xA1])), ten(Msg::read(0x048, 1))]);
        assert_eq!(reads, Ok(vec![vec![0x00]]));
        assert_eq!(byte_at(&mut bus, 0x48, 0x00), 0x11);
        assert_eq!(transfer(&mut bus, vec![ten(Msg::read(0x10, 1))]), Err(Errno::ENXIO));
        let far = Target { ten_bit: true, ..Target::new(0x3FF) };
        assert_eq!(bus.run(&Op::Smbus { target: far, command: Command::ReadByte }), Err(Errno::ENXIO));
    }

    #[test]
    fn timeout_cuts_an_op_short() {
        // At 1 kHz a bit lasts 1 ms; write_byte_data is 31 bits, 31 ms.
        let mut bus = bus("[[bus]]\nnumber = 1\nspeed_khz = 1\n\
             [[bus.device]]\nmodel = \"register-file\"\naddr = 0x48\nregisters = [0x10, 0x20]\n");
        bus.set_timeout(Duration::from_millis(20));
        assert_eq!(bus.timeout(), Duration::from_millis(20));
        let start = Instant::now();
        // The address (11 ms) fits, the message with its two bytes (29 ms) does not, so the
        // chip never sees it.
        assert_eq!(
            run(&mut bus, 0x48, Command::WriteByteData { reg: 0x01, value: 0x42 }),
            Err(Errno::ETIMEDOUT)
        );
        assert!(start.elapsed() >= Duration::from_millis(20));
        // The register message (20 ms) fits exactly; the read message after it does not.
        assert_eq!(run(&mut bus, 0x48, Command::ReadByteData { reg: 0x01 }), Err(Errno::ETIMEDOUT));
        bus.set_timeout(Duration::from_secs(1));
        // So the pointer moved to 0x01, and 0x01 still holds its initial value.
        assert_eq!(run(&mut bus, 0x48, Command::ReadByte), Ok(Reply::Byte(0x20)));
        assert_eq!(run(&mut bus, 0x48, Command::ReadByteData { reg: 0x00 }), Ok(Reply::Byte(0x10)));
    }

    #[test]
    fn wire_time_is_slept() {
        // read_byte_data at 100 kHz: 42 bits, 420 µs.
        let mut bus = with("speed_khz = 100");
        let start = Instant::now();
        for _ in 0..10 {
            run(&mut bus, 0x48, Command::ReadByteData { reg: 0 }).unwrap();
        }
        assert!(start.elapsed() >= Duration::from_micros(4200), "{:?}", start.elapsed());
    }

    #[test]
    fn retries_are_kept() {
        let mut bus = lab();
        bus.set_retries(3);
        assert_eq!(bus.retries(), 3);
        assert_eq!(run(&mut bus, 0x48, Command::ReadByte), Ok(Reply::Byte(0x11)));
    }
}
