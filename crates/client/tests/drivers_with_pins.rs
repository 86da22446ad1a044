//! Unmodified embedded-hal drivers that take a pin as well as the bus, through a real server on
//! the simulator, checked against the chips' datasheets: the `ssd1306` crate pulses the
//! display's RES# through a remote line (`OutputPin`), then draws, and the simulated panel shows
//! what it drew.

use smbus_proxy_client::{Delay, Edge, Edges, LineSettings, blocking};
use smbus_proxy_testkit::{Loopback, panel_pixels as lit, simulated_with_lines};
use ssd1306::prelude::*;
use ssd1306::{I2CDisplayInterface, Ssd1306};
use std::collections::BTreeSet;
use std::time::Duration;

#[test]
fn the_ssd1306_crate_pulses_the_displays_reset_then_draws_on_its_panel() {
    let dir = tempfile::tempdir().unwrap();
    let panel = dir.path().join("oled.pbm");
    let lab = format!(
        r#"
[[bus]]
number = 1
[[bus.device]]
model = "ssd1306"
addr = 0x3C
panel = "{}"
reset = "oled-reset"

[[line]]
name = "oled-reset"
pull = "up"
[[line]]
name = "probe"
follows = "oled-reset"
"#,
        panel.display()
    );
    let (server, _lines) = simulated_with_lines(&lab);
    let server = server.on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();

    // A scope on RES#: the probe is wired to it.
    let mut probe =
        client.bus(1).unwrap().line("probe", LineSettings::input().with_edges(Edges::Both)).unwrap();

    let mut bus = client.bus(1).unwrap();
    let mut reset = bus.line("oled-reset", LineSettings::output(true)).unwrap();
    let mut display =
        Ssd1306::new(I2CDisplayInterface::new(bus), DisplaySize128x64, DisplayRotation::Rotate0)
            .into_buffered_graphics_mode();
    display.reset(&mut reset, &mut Delay).unwrap();
    let fell = probe.wait_edge(Edges::Both, Duration::from_secs(1)).unwrap();
    let rose = probe.wait_edge(Edges::Both, Duration::from_secs(1)).unwrap();
    assert_eq!((fell.edge, rose.edge), (Edge::Falling, Edge::Rising));
    let low = Duration::from_nanos(rose.timestamp_ns - fell.timestamp_ns);
    assert!(low >= Duration::from_millis(10), "RES# low {low:?}: the driver's 10 ms");
    assert!(lit(&panel).is_empty(), "after the reset: power-on, the display off");

    display.init().unwrap();
    for (x, y) in [(0, 0), (10, 20), (127, 63)] {
        display.set_pixel(x, y, true);
    }
    display.flush().unwrap();
    // The driver's init sends segment remap (0xA1) and COM scan remap (0xC8), which show the
    // image upright on the module; its buffer's bit for (x, y) is GDDRAM column x, page y / 8,
    // bit y % 8 (SSD1306 datasheet §8.7).
    assert_eq!(lit(&panel), BTreeSet::from([(0, 0), (10, 20), (127, 63)]));
    display.set_display_on(false).unwrap();
    assert!(lit(&panel).is_empty(), "display off");
}
