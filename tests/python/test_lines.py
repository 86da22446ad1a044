"""GPIO lines from Python, through the real server on the simulator's lines: smbus_proxy's
``Line``, CircuitPython's ``digitalio.DigitalInOut`` (``smbus_proxy.digitalio``), and gpiozero
from PyPI, unmodified, on ``smbus_proxy.gpiozero``'s pin factory.

The lab joins two pairs of lines with wires, as jumpers on a breadboard: what a program drives
on ``led`` (or ``out``), it reads on ``button`` (or ``in``), so each check drives one line and
reads its effect on another, through the server both ways.
"""

import contextlib
import os
import subprocess
import sys
import threading
import time

import pytest
from conftest import BINARY, logged_server

import smbus_proxy
from smbus_proxy import Line, list_lines

LAB = """
[[bus]]
number = 1
[[bus.device]]
model = "register-file"
addr = 0x48

[[line]]
name = "led"
[[line]]
name = "button"
pull = "up"
follows = "led"
[[line]]
name = "out"
[[line]]
name = "in"
follows = "out"
[[line]]
name = "GPIO17"
"""


@contextlib.contextmanager
def lab_server(directory, lab):
    """A server on the simulated lab `lab`, its file in `directory` (where its paths start)."""
    path = directory / "lab.toml"
    path.write_text(lab)
    with logged_server(config=path) as server:
        yield server


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with lab_server(tmp_path_factory.mktemp("lines"), LAB) as server:
        yield server


def test_the_server_lists_its_lines(lab):
    lines = list_lines(server=lab.url)
    assert [(line.name, line.chip, line.offset) for line in lines] == [
        ("led", "sim-gpio", 0),
        ("button", "sim-gpio", 1),
        ("out", "sim-gpio", 2),
        ("in", "sim-gpio", 3),
        ("GPIO17", "sim-gpio", 4),
    ]
    assert not any(line.used for line in lines)
    with Line("led", output=True, value=True, server=lab.url):
        led = next(line for line in list_lines(server=lab.url) if line.name == "led")
        assert led.used and led.output and led.value is True


def test_a_line_drives_another_through_the_wire(lab):
    with Line("out", output=True, server=lab.url) as out, Line("in", edges="both", server=lab.url) as inp:
        assert inp.value is False
        out.value = True
        assert inp.value is True and out.value is True
        event = inp.wait_edge("rising", timeout=1)
        assert (event.line, event.edge, event.seqno, event.lost) == ("in", "rising", 1, 0)
        assert inp.wait_edge("both", timeout=0.05) is None, "no edge since"
        out.value = False
        assert inp.wait_level(False, timeout=1)
        assert inp.wait_level(False, timeout=0.01), "at once when it has the level"
        # Active low: the program's True is the line low.
        inp.reconfigure(active_low=True)
        assert inp.value is True


def test_events_stream_to_a_thread_of_their_own(lab):
    with Line("out", output=True, server=lab.url) as out, Line("in", edges="both", server=lab.url) as inp:
        seen = []
        events = inp.events()
        reader = threading.Thread(target=lambda: seen.extend(e for _, e in zip(range(6), events)))
        reader.start()
        for value in (True, False) * 3:
            out.value = value
        reader.join(timeout=5)
        assert [(e.edge, e.seqno) for e in seen] == [
            ("rising", 1),
            ("falling", 2),
            ("rising", 3),
            ("falling", 4),
            ("rising", 5),
            ("falling", 6),
        ]
        assert all(a.timestamp_ns <= b.timestamp_ns for a, b in zip(seen, seen[1:]))


def test_refusals_name_what_is_wrong(lab):
    with Line("led", output=True, server=lab.url):
        with pytest.raises(OSError) as busy:
            Line("led", server=lab.url)
        assert "EBUSY" in str(busy.value) and "held by session" in str(busy.value)
    with pytest.raises(ValueError, match=r'"gpio4" is not a line this server offers; it offers "led"'):
        Line("gpio4", server=lab.url)
    with pytest.raises(ValueError, match=r"debounce_us: 2000000 µs is out of range 0–1000000"):
        Line("in", edges="both", debounce=2.0, server=lab.url)
    with pytest.raises(ValueError, match=r'edges: "up" is not one of'):
        Line("in", edges="up", server=lab.url)
    with pytest.raises(ValueError, match=r"debounce: -1 is not a number of seconds 0 or more"):
        Line("in", debounce=-1.0, server=lab.url)
    with Line("in", server=lab.url) as inp:
        with pytest.raises(PermissionError, match="the line is an input"):
            inp.value = True
        with pytest.raises(OSError, match="the line detects no edges; request it with edges rising"):
            inp.wait_edge("rising", timeout=0.01)
    line = Line("in", server=lab.url)
    line.close()
    line.close()
    with pytest.raises(OSError, match="is closed"):
        line.value


def test_digitalio_drives_and_reads_as_circuitpython_does(lab):
    import digitalio as blinka  # Blinka's: drivers compare against its Direction and Pull

    from smbus_proxy.digitalio import DigitalInOut, Direction, Pin, Pull

    assert Direction is blinka.Direction and Pull is blinka.Pull
    led = DigitalInOut(Pin("led", server=lab.url))
    button = DigitalInOut(Pin("button", server=lab.url))
    assert led.direction == blinka.Direction.INPUT, "starts as an input, as on CircuitPython"
    led.switch_to_output(value=True)
    button.switch_to_input(pull=blinka.Pull.UP)
    assert button.value is True and button.pull == Pull.UP
    led.value = False
    assert button.value is False
    led.direction = blinka.Direction.INPUT
    assert led.direction == Direction.INPUT
    with pytest.raises(AttributeError):
        led.value = True
    led.deinit()
    button.deinit()
    with pytest.raises(ValueError, match="deinitialized"):
        led.value


def test_gpiozero_drives_and_reads_remote_lines(lab):
    from gpiozero import LED, Button, Device, DigitalInputDevice

    from smbus_proxy.gpiozero import RemoteFactory

    Device.pin_factory = RemoteFactory(lab.url)
    try:
        assert {p.name for p in Device.pin_factory.board_info.headers["lines"].pins.values()} == {
            "led",
            "button",
            "out",
            "in",
            "GPIO17",
        }
        led = LED("led")
        button = Button("button", pull_up=True)
        pressed, released = threading.Event(), threading.Event()
        button.when_pressed = pressed.set
        button.when_released = released.set
        led.on()  # the wire pulls the button's line high: released
        assert not button.is_pressed
        led.off()  # low: pressed, as a button to ground is
        assert pressed.wait(5) and button.is_pressed
        led.on()
        assert released.wait(5) and not button.is_pressed
        assert led.is_lit and led.value == 1

        sensor = DigitalInputDevice("in")
        activated = threading.Event()
        sensor.when_activated = activated.set
        driver = LED("out")
        driver.blink(on_time=0.01, off_time=0.01, n=3, background=False)
        assert activated.is_set()
        assert sensor.value == 0

        # gpiozero's numbers name a line called GPIOn.
        seventeen = LED(17)
        seventeen.on()
        assert next(line for line in list_lines(server=lab.url) if line.name == "GPIO17").value is True
        for device in (led, button, sensor, driver, seventeen):
            device.close()
        assert not any(line.used for line in list_lines(server=lab.url))
    finally:
        Device.pin_factory.close()
        Device.pin_factory = None


def test_an_unmodified_gpiozero_program_picks_the_factory_by_name(lab, tmp_path):
    program = tmp_path / "blink.py"
    program.write_text(
        "from gpiozero import LED, Button\n"
        "led, button = LED('led'), Button('button')\n"
        "led.on(); print('lit', led.is_lit, 'pressed', button.is_pressed)\n"
        "led.off(); print('lit', led.is_lit, 'pressed', button.is_pressed)\n"
    )
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "smbus-proxy", "SMBUS_PROXY_SERVER": lab.url}
    done = subprocess.run([sys.executable, str(program)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "lit True pressed False\nlit False pressed True\n"


EXPANDER = """
[[bus]]
number = 1
[[bus.device]]
model = "pcf8574"
addr = 0x20
int = "pcf-int"
pins = { 0 = "button" }

[[line]]
name = "pcf-int"
pull = "up"
[[line]]
name = "press"
pull = "up"
[[line]]
name = "button"
follows = "press"
"""


@pytest.fixture(scope="module")
def expander(tmp_path_factory):
    with lab_server(tmp_path_factory.mktemp("expander"), EXPANDER) as server:
        yield server


def test_an_expanders_interrupt_through_digitalio_and_adafruits_driver(expander):
    """Adafruit's PCF8574 driver, unmodified, and the chip's /INT through DigitalInOut, as the
    NXP PCF8574 datasheet (§8.3) has them: /INT falls when an input changes, and rises when the
    port is read, or when the input goes back to the state last read."""
    import adafruit_pcf8574
    import digitalio  # Blinka's, which the driver takes its Pull from

    from smbus_proxy.busio import I2C
    from smbus_proxy.digitalio import DigitalInOut, Pin

    pcf = adafruit_pcf8574.PCF8574(I2C(1, server=expander.url))
    button = pcf.get_pin(0)
    button.switch_to_input(pull=digitalio.Pull.UP)  # the driver writes its latch: 0x01
    interrupt = DigitalInOut(Pin("pcf-int", server=expander.url))
    assert interrupt.value is True, "nothing changed"
    with Line("press", output=True, value=True, server=expander.url) as press:
        press.value = False  # the button is pressed: P0 falls
        assert interrupt.value is False
        assert button.value is False  # the driver reads the port...
        assert interrupt.value is True  # ...which lets /INT go
        press.value = True
        assert interrupt.value is False, "P0 rose"
        press.value = False
        assert interrupt.value is True, "back to the state last read"
        # P1-P7 read low: the driver's write of 0x01 drives them low, as on the chip.
        assert pcf.read_gpio() == 0x00
    interrupt.deinit()


def test_gpiozero_calls_back_on_the_expanders_interrupt(expander):
    """An interrupt-driven read: gpiozero's Button on /INT calls back, the callback reads the
    port with Adafruit's driver, and the read lets /INT go, so every press is seen once."""
    import adafruit_pcf8574
    from gpiozero import Button, Device

    from smbus_proxy.busio import I2C
    from smbus_proxy.gpiozero import RemoteFactory

    pcf = adafruit_pcf8574.PCF8574(I2C(1, server=expander.url))
    pcf.write_gpio(0xFF)  # every pin an input
    Device.pin_factory = RemoteFactory(expander.url)
    seen = []
    read = threading.Event()
    try:
        interrupt = Button("pcf-int", pull_up=True)  # /INT is active low: pressed when low

        def on_interrupt():
            seen.append(pcf.read_gpio())
            read.set()

        interrupt.when_pressed = on_interrupt
        with Line("press", output=True, value=True, server=expander.url) as press:
            for level in (False, True, False):
                read.clear()
                press.value = level
                assert read.wait(5), f"no interrupt for P0 going {'high' if level else 'low'}"
            assert seen == [0xFE, 0xFF, 0xFE]
        interrupt.close()
    finally:
        Device.pin_factory.close()
        Device.pin_factory = None


SENSORS = """
[[bus]]
number = 1
[[bus.device]]
model = "mcp23017"
addr = 0x20
inta = "mcp-inta"
pins = { 0 = "button", 9 = "button" }
[[bus.device]]
model = "adxl345"
addr = 0x53
acceleration = [0.5, -0.25, 1.0]
int1 = "accel-int1"

[[line]]
name = "mcp-inta"
pull = "up"
[[line]]
name = "press"
pull = "up"
[[line]]
name = "button"
follows = "press"
[[line]]
name = "accel-int1"
"""


@pytest.fixture(scope="module")
def sensors(tmp_path_factory):
    with lab_server(tmp_path_factory.mktemp("sensors"), SENSORS) as server:
        yield server


def test_an_mcp23017s_interrupts_through_adafruits_driver_and_digitalio(sensors):
    """Adafruit's MCP230xx driver, unmodified, configures interrupt on change and reads what
    caused it; INTA through DigitalInOut behaves as the MCP23017 datasheet (§3.6) has it: it
    goes active on the first change, INTF names the pin, INTCAP holds the port as it was then,
    and only reading INTCAP (or GPIO) lets it go; compared with DEFVAL, it stays while the pin
    differs."""
    import adafruit_mcp230xx.mcp23017
    import digitalio

    from smbus_proxy.busio import I2C
    from smbus_proxy.digitalio import DigitalInOut, Pin

    mcp = adafruit_mcp230xx.mcp23017.MCP23017(I2C(1, server=sensors.url))
    button = mcp.get_pin(0)
    button.switch_to_input(pull=digitalio.Pull.UP)
    mcp.interrupt_enable = 0x0001  # GPA0
    mcp.interrupt_configuration = 0x0000  # against its previous level
    mcp.io_control = 0x44  # MIRROR, and open drain: the board's pull-up holds INTA high
    mcp.clear_ints()
    inta = DigitalInOut(Pin("mcp-inta", server=sensors.url))
    assert inta.value is True
    with Line("press", output=True, value=True, server=sensors.url) as press:
        press.value = False
        assert inta.value is False, "GPA0 fell: INTA active"
        press.value = True  # a change while the interrupt is active: no new one
        assert mcp.int_flag == [0]
        assert inta.value is False, "reading INTF clears nothing"
        assert mcp.int_cap[0] == 0, "INTCAP: GPA0 as it was when it fell"
        assert inta.value is True, "reading INTCAP cleared it"
        assert button.value is True, "the pin now"
        assert mcp.int_flag == []

        mcp.default_value = 0x0001  # GPA0's idle level: high
        mcp.interrupt_configuration = 0x0001  # against DEFVAL
        press.value = False
        assert inta.value is False
        mcp.clear_ints()
        assert inta.value is False, "it still differs from DEFVAL: active again at once"
        press.value = True
        mcp.clear_ints()
        assert inta.value is True
        # GPB1 reads the same wire: port B saw every level, though no interrupt is enabled there.
        assert mcp.gpiob & 0x02 == 0x02
    inta.deinit()


def test_an_accelerometers_data_ready_pin_paces_adafruits_driver(sensors):
    """Adafruit's ADXL34x driver, unmodified, reads the acceleration as the ADXL345 datasheet
    scales it (full resolution, 3.9 mg/LSB, which the driver takes as 4 mg); DATA_READY on
    INT1, read through DigitalInOut, rises with each sample at the data rate and falls when the
    driver reads the data."""
    import adafruit_adxl34x

    from smbus_proxy.busio import I2C
    from smbus_proxy.digitalio import DigitalInOut, Pin

    i2c = I2C(1, server=sensors.url)
    accel = adafruit_adxl34x.ADXL345(i2c)  # sets Measure
    accel.range = adafruit_adxl34x.Range.RANGE_16_G  # and FULL_RES: 256 LSB/g
    accel.data_rate = adafruit_adxl34x.DataRate.RATE_25_HZ
    assert accel.data_rate == 0x08
    while not i2c.try_lock():
        pass
    i2c.writeto(0x53, bytes([0x2E, 0x80]))  # INT_ENABLE: DATA_READY (the driver has no setter)
    i2c.unlock()
    int1 = DigitalInOut(Pin("accel-int1", server=sensors.url))
    gravity = 9.80665
    for _ in range(3):
        start = time.monotonic()
        while not int1.value:
            assert time.monotonic() - start < 1, "no sample at 25 Hz"
        x, y, z = accel.acceleration
        assert int1.value is False, "reading the data clears DATA_READY"
        assert (x, y, z) == pytest.approx((128 * 0.004 * gravity, -64 * 0.004 * gravity, 256 * 0.004 * gravity))
    # 25 Hz: each sample comes 40 ms after the last.
    rises = []
    for _ in range(3):
        while not int1.value:
            pass
        rises.append(time.monotonic())
        accel.acceleration
    assert [round(b - a, 2) for a, b in zip(rises[1:], rises[2:])] == [0.04]
    int1.deinit()


OLED = """
[[bus]]
number = 1
[[bus.device]]
model = "ssd1306"
addr = 0x3C
panel = "oled.pbm"
reset = "oled-reset"

[[line]]
name = "oled-reset"
pull = "up"
[[line]]
name = "probe"
follows = "oled-reset"
"""


def lit(panel):
    """The lit pixels of the simulated panel's P4 PBM image (a 0 bit is lit)."""
    image = panel.read_bytes()
    header = b"P4\n128 64\n"
    assert image.startswith(header)
    rows = image[len(header) :]
    return {(x, y) for y in range(64) for x in range(128) if not rows[y * 16 + x // 8] & (0x80 >> (x % 8))}


def test_adafruits_ssd1306_driver_takes_the_displays_reset_pin(tmp_path):
    """Adafruit's SSD1306 driver, unmodified, given the display's RES# as a DigitalInOut: it
    holds the chip in reset, pulses it (10 ms low, seen on a line wired to it), initialises it
    and draws; the simulated panel shows what it drew, upright as the module shows it."""
    import adafruit_ssd1306

    from smbus_proxy.busio import I2C
    from smbus_proxy.digitalio import DigitalInOut, Pin

    with lab_server(tmp_path, OLED) as server:
        with Line("probe", edges="both", server=server.url) as probe:
            reset = DigitalInOut(Pin("oled-reset", server=server.url))
            display = adafruit_ssd1306.SSD1306_I2C(128, 64, I2C(1, server=server.url), reset=reset)
            edges = [probe.wait_edge(timeout=1) for _ in range(4)]
            assert [e.edge for e in edges] == ["falling", "rising", "falling", "rising"]
            assert edges[3].timestamp_ns - edges[2].timestamp_ns >= 10_000_000, "RES# low for 10 ms"
            assert lit(tmp_path / "oled.pbm") == set(), "initialised and cleared"
            for x, y in [(0, 0), (10, 20), (127, 63)]:
                display.pixel(x, y, 1)
            display.show()
            assert lit(tmp_path / "oled.pbm") == {(0, 0), (10, 20), (127, 63)}
            display.poweroff()
            assert lit(tmp_path / "oled.pbm") == set(), "display off"
            reset.deinit()
