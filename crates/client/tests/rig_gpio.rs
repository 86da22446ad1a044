//! The server's lines on real kernel GPIO: run by `rig/gpio.sh` inside the QEMU rig's guest,
//! where gpio-sim gives chip "rig-gpio" (lines rig-0..rig-7, rig-7 held by a kernel hog) and
//! `smbus-proxy serve --line …` offers them; SMBUS_PROXY_RIG_GPIO is its URL. The test drives
//! the chip's inputs from outside through gpio-sim's sysfs, as a circuit would, and reads its
//! outputs there. One test serves a line of its own: the `ssd1306` crate, unmodified, pulses a
//! simulated display's RES# on the rig chip's line 3, a kernel line. Without the rig these
//! tests are ignored.

use smbus_proxy_client::{Code, Edge, Edges, Errno, Error, EventClock, LineSettings, blocking};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MS: Duration = Duration::from_millis(1);

fn client() -> blocking::Client {
    let url = std::env::var("SMBUS_PROXY_RIG_GPIO").expect("run by rig/gpio.sh in the rig's guest");
    for _ in 0..100 {
        if let Ok(c) = blocking::Client::connect(url.clone()).and_then(|c| c.list_lines().map(|_| c)) {
            return c;
        }
        std::thread::sleep(100 * MS);
    }
    panic!("no server at {url}");
}

/// gpio-sim's attribute of the rig chip's line `offset`.
fn sim(offset: u32, attribute: &str) -> std::path::PathBuf {
    let chip = std::fs::read_dir("/sys/devices/platform/gpio-sim.0")
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("gpiochip"))
        .expect("gpio-sim's chip");
    chip.path().join(format!("sim_gpio{offset}")).join(attribute)
}

/// Drives an input from outside: the circuit pulls it up or down.
fn pull(offset: u32, up: bool) {
    std::fs::write(sim(offset, "pull"), if up { "pull-up" } else { "pull-down" }).unwrap();
}

/// The level an output drives, as the chip sees it.
fn level(offset: u32) -> bool {
    std::fs::read_to_string(sim(offset, "value")).unwrap().trim() == "1"
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

#[test]
#[ignore = "needs the QEMU rig's GPIO: rig/gpio.sh"]
fn the_lines_are_the_kernels() {
    let lines = client().list_lines().unwrap();
    let seen: Vec<_> = lines
        .iter()
        .map(|l| (l.name.as_str(), l.chip_label.as_str(), l.offset, l.line_name.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("rig-0", "rig-gpio", 0, "rig-0"),
            ("reset", "rig-gpio", 1, "rig-1"),
            ("rig-2", "rig-gpio", 2, "rig-2"),
            ("rig-7", "rig-gpio", 7, "rig-7")
        ]
    );
    let hog = &lines[3];
    assert!(hog.used && hog.consumer == "rig-hog" && hog.session.is_empty(), "{hog:?}");
}

#[test]
#[ignore = "needs the QEMU rig's GPIO: rig/gpio.sh"]
fn an_output_drives_the_kernels_line_and_gives_it_back() {
    let client = client();
    let mut bus = client.bus(client.list_buses().unwrap()[0].number).unwrap();
    let mut reset = bus.line("reset", LineSettings::output(true)).unwrap();
    assert!(level(1));
    reset.set(false).unwrap();
    assert!(!level(1));
    let info = client.list_lines().unwrap().into_iter().find(|l| l.name == "reset").unwrap();
    assert!(info.used && info.consumer.starts_with("smbus-proxy ") && info.session.len() == 8, "{info:?}");
    assert_eq!(info.value, Some(false));

    // The kernel refuses it to anyone else meanwhile, libgpiod's tools included.
    let busy = Command::new("gpioget").args(["-c", "gpiochip0", "1"]).output().unwrap();
    assert!(!busy.status.success(), "{busy:?}");
    reset.release().unwrap();
    let free = Command::new("gpioget").args(["-c", "gpiochip0", "1"]).output().unwrap();
    assert!(free.status.success(), "{free:?}");
}

#[test]
#[ignore = "needs the QEMU rig's GPIO: rig/gpio.sh"]
fn edges_come_with_the_kernels_timestamps_and_numbers() {
    let client = client();
    let mut bus = client.bus(client.list_buses().unwrap()[0].number).unwrap();
    pull(0, false);
    let settings =
        LineSettings { event_clock: EventClock::Realtime, ..LineSettings::input().with_edges(Edges::Both) };
    let mut line = bus.line("rig-0", settings).unwrap();
    assert!(!line.get().unwrap());
    let before = now_ns();
    pull(0, true);
    std::thread::sleep(50 * MS);
    pull(0, false);
    let after = now_ns();
    let up = line.wait_edge(Edges::Both, 1000 * MS).unwrap();
    let down = line.wait_edge(Edges::Both, 1000 * MS).unwrap();
    assert_eq!((up.edge, up.seqno, down.edge, down.seqno), (Edge::Rising, 1, Edge::Falling, 2));
    assert!(before <= up.timestamp_ns && down.timestamp_ns <= after, "{before} {up:?} {down:?} {after}");
    assert!(down.timestamp_ns - up.timestamp_ns >= 50_000_000, "{up:?} {down:?}");
    let err = line.wait_edge(Edges::Both, 30 * MS).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::ETIMEDOUT));

    // Active low: the kernel reports the logical edges.
    line.reconfigure(LineSettings { active_low: true, ..LineSettings::input().with_edges(Edges::Rising) })
        .unwrap();
    pull(0, true);
    pull(0, false);
    let e = line.wait_edge(Edges::Rising, 1000 * MS).unwrap();
    assert_eq!(e.edge, Edge::Rising);
    assert!(line.get().unwrap(), "low is active");
}

#[test]
#[ignore = "needs the QEMU rig's GPIO: rig/gpio.sh"]
fn debounce_hides_pulses_shorter_than_its_period() {
    let client = client();
    let mut bus = client.bus(client.list_buses().unwrap()[0].number).unwrap();
    pull(2, false);
    let settings = LineSettings { debounce: 100 * MS, ..LineSettings::input().with_edges(Edges::Both) };
    let mut line = bus.line("rig-2", settings).unwrap();
    let info = client.list_lines().unwrap().into_iter().find(|l| l.name == "rig-2").unwrap();
    assert_eq!(info.debounce_us, 100_000);
    // Bounces: microseconds apart (milliseconds on a loaded emulator), far shorter than 100 ms.
    for _ in 0..5 {
        pull(2, true);
        pull(2, false);
    }
    let err = line.wait_edge(Edges::Both, 300 * MS).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::ETIMEDOUT), "a bounce got through");
    pull(2, true);
    let e = line.wait_edge(Edges::Both, 2000 * MS).unwrap();
    assert_eq!(e.edge, Edge::Rising);
    pull(2, false);
}

#[test]
#[ignore = "needs the QEMU rig's GPIO: rig/gpio.sh"]
fn a_line_the_kernel_holds_is_busy() {
    let client = client();
    let mut bus = client.bus(client.list_buses().unwrap()[0].number).unwrap();
    let err = bus.line("rig-7", LineSettings::input()).err().unwrap();
    match err {
        Error::Rejected { code, message } => {
            assert_eq!(code, Code::Aborted, "{message}");
            assert!(message.contains("the chip refused it: EBUSY"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
#[ignore = "needs the QEMU rig's GPIO: rig/gpio.sh"]
fn an_unmodified_display_driver_pulses_its_reset_on_a_kernel_line() {
    use smbus_proxy_client::Delay;
    use smbus_proxy_testkit::Loopback;
    use ssd1306::prelude::*;
    use ssd1306::{I2CDisplayInterface, Ssd1306};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    // A server of its own: a simulated bus with the display, and the rig chip's line 3, a kernel
    // line, as the display's RES# ("oled-reset").
    let dir = tempfile::tempdir().unwrap();
    let panel = dir.path().join("oled.pbm");
    let lab = format!(
        "[[bus]]\nnumber = 1\n[[bus.device]]\nmodel = \"ssd1306\"\naddr = 0x3C\npanel = \"{}\"\n",
        panel.display()
    );
    let config = smbus_proxy_sim::Config::parse(&lab).unwrap();
    let (line, _) = smbus_proxy_server::find_line("rig-3").unwrap();
    let server = smbus_proxy_server::Server::simulated(&config)
        .lines(vec![("oled-reset".to_owned(), Box::new(line))])
        .on_loopback();

    // A scope on the kernel's line: gpio-sim's value of line 3, sampled as fast as sysfs goes.
    let stop = Arc::new(AtomicBool::new(false));
    let scope = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let mut seen: Vec<(bool, Instant)> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let now = level(3);
                if seen.last().is_none_or(|&(was, _)| was != now) {
                    seen.push((now, Instant::now()));
                }
                std::thread::sleep(Duration::from_micros(100));
            }
            seen
        }
    });

    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let mut reset = bus.line("oled-reset", LineSettings::output(true)).unwrap();
    let mut display =
        Ssd1306::new(I2CDisplayInterface::new(bus), DisplaySize128x64, DisplayRotation::Rotate0)
            .into_buffered_graphics_mode();
    display.reset(&mut reset, &mut Delay).unwrap();
    display.init().unwrap();
    display.set_pixel(3, 5, true);
    display.flush().unwrap();
    std::thread::sleep(20 * MS);
    stop.store(true, Ordering::Relaxed);
    let seen = scope.join().unwrap();

    // Low before the server requested it (gpio-sim's pull), then the driver's pulse.
    let levels: Vec<bool> = seen.iter().map(|&(level, _)| level).collect();
    assert!(levels.ends_with(&[true, false, true]), "gpio-sim's value of line 3: {seen:?}");
    let low = seen[seen.len() - 1].1 - seen[seen.len() - 2].1;
    assert!(low >= 9 * MS, "RES# low {low:?} on the kernel's line: the driver's 10 ms");
    let lit = smbus_proxy_testkit::panel_pixels(&panel);
    assert_eq!(lit, [(3, 5)].into(), "what the driver drew, on the simulated panel");
    reset.release().unwrap();
}
