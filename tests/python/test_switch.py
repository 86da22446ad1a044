"""Packages that import smbus or smbus2 themselves, unchanged, through the switch.

RPLCD (HD44780 character LCDs, from PyPI) opens its own bus: ``from smbus import SMBus``
(smbus2's when that fails) and ``SMBus(port)`` inside ``CharLCD``. Behind a PCF8574 backpack
it sends each byte to the display as two nibbles on P4–P7, with RS on P0 and a pulse of E on
P2, so the text it wrote can be read back from the server's log of the expander's writes.
"""

import re
import subprocess
import sys

import pytest
from conftest import logged_server

PROGRAM = """\
from RPLCD.i2c import CharLCD

lcd = CharLCD("PCF8574", 0x27, port=1, cols=16, rows=2)
lcd.write_string("Hi, bus")
"""

RS, E = 0x01, 0x04


def first_line_of_the_display(writes, columns=16):
    """What an HD44780 shows on its first line after these expander writes: each byte arrives
    as two nibbles latched by E, high first, RS telling data from instructions. RPLCD moves the
    cursor over characters the display already shows instead of writing them again, so the
    instructions that set the cursor (0x80 | address) count too."""
    latched = [(value >> 4, value & RS) for value in writes if value & E]
    ddram, cursor = {}, 0
    for (high, rs), (low, _) in zip(latched[::2], latched[1::2]):
        byte = high << 4 | low
        if rs:
            ddram[cursor] = chr(byte)
            cursor += 1
        elif byte & 0x80:
            cursor = byte & 0x7F
        elif byte in (0x01, 0x02):  # clear display, return home
            ddram = {} if byte == 0x01 else ddram
            cursor = 0
    return "".join(ddram.get(address, " ") for address in range(columns))


def expander_writes(server):
    server.wait_for("client closed bus 1")
    return [int(v, 16) for v in re.findall(r"write_byte 0x27 value=(0x[0-9a-f]+)", "".join(server.log()))]


@pytest.fixture
def lcd_server(tmp_path):
    config = tmp_path / "lcd.toml"
    config.write_text('[[bus]]\nnumber = 1\n[[bus.device]]\nmodel = "pcf8574"\naddr = 0x27\n')
    with logged_server("--log-ops", "info", config=config) as server:
        yield server


def run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60)


def test_a_package_that_opens_its_own_bus_runs_through_python_m_smbus_proxy(lcd_server, tmp_path):
    program = tmp_path / "lcd.py"
    program.write_text(PROGRAM)
    done = run("-m", "smbus_proxy", "--server", lcd_server.url, str(program))
    assert done.returncode == 0, done.stderr
    assert first_line_of_the_display(expander_writes(lcd_server)) == "Hi, bus".ljust(16)


def test_install_in_the_program_itself(lcd_server, tmp_path):
    program = tmp_path / "lcd.py"
    program.write_text(f"import smbus_proxy\nsmbus_proxy.install(server={lcd_server.url!r})\n" + PROGRAM)
    done = run(str(program))
    assert done.returncode == 0, done.stderr
    assert first_line_of_the_display(expander_writes(lcd_server)) == "Hi, bus".ljust(16)


def test_without_the_switch_nothing_changes():
    """Importing smbus_proxy alone leaves smbus2 the real one."""
    done = run("-c", "import smbus_proxy, smbus2; print(smbus2.SMBus.__module__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "smbus2.smbus2"


def test_the_runner_says_what_it_needs():
    done = run("-m", "smbus_proxy")
    assert done.returncode == 2
    assert "give a program's file, or -m and a module" in done.stderr
