"""smbus_proxy.SMBus, smbus2's interface on the Rust client, against the real server binary."""

import errno
import os
import re
import threading
import time

import pytest
import smbus2
from conftest import logged_server

from smbus_proxy import I2C_M_RD, I2C_M_RECV_LEN, I2C_M_TEN, BusInfo, I2cFunc, SMBus, i2c_msg, list_buses

# Bus 1 has every function, bus 2 is a Raspberry Pi's adapter without PEC, and on each of the
# others every operation fails with one errno.
LAB = """
[[bus]]
number = 1
[[bus.device]]
model = "register-file"
addr = 0x48
registers = [0x19, 0x60, 0x4B, 0x00]
[[bus.device]]
model = "pcf8574"
addr = 0x20
inputs = 0xF0
[[bus.device]]
model = "eeprom-24c02"
addr = 0x50
write_cycle_us = 0   # plain memory here: test_adafruit.py shows the write cycle
[[bus.device]]
model = "register-file"
addr = 0x68
busy = true

[[bus]]
number = 2
funcs = 0x0eff0001   # plain I2C and emulated SMBus without PEC: no block read, no PEC
[[bus.device]]
model = "register-file"
addr = 0x48
"""
FAILING = {3: "ETIMEDOUT", 4: "EAGAIN", 5: "EIO", 6: "EREMOTEIO", 7: "EBADMSG"}
for number, name in FAILING.items():
    LAB += f'\n[[bus]]\nnumber = {number}\nfail_every = 1\nfail_errno = "{name}"\n'
    LAB += '[[bus.device]]\nmodel = "register-file"\naddr = 0x48\n'

ABSENT = 0x33
ENXIO = 6


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    config = tmp_path_factory.mktemp("lab") / "lab.toml"
    config.write_text(LAB)
    with logged_server("--log-ops", "info", config=config) as server:
        yield server


@pytest.fixture
def bus(lab):
    with SMBus(1, server=lab.url) as bus:
        yield bus


def ops_logged(lab):
    """The bus operations the server has run so far."""
    return [line for line in lab.log() if " → " in line]


# --- Opening, closing, the server's address ------------------------------------------------


def test_the_server_comes_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("SMBUS_PROXY_SERVER", f"http://{server}")
    with SMBus(1) as bus:
        assert bus.server == f"http://{server}"
        bus.write_quick(0x10)


def test_an_explicit_server_wins_over_the_environment(server, monkeypatch):
    monkeypatch.setenv("SMBUS_PROXY_SERVER", "http://127.0.0.1:1")
    with SMBus(1, server=f"http://{server}") as bus:
        bus.write_quick(0x48)


def test_without_either_the_server_is_the_default(monkeypatch):
    monkeypatch.delenv("SMBUS_PROXY_SERVER", raising=False)
    assert SMBus().server == "http://127.0.0.1:50051"


def test_a_server_that_is_not_there_is_a_connection_error():
    with pytest.raises(ConnectionError, match=r"cannot connect to http://127\.0\.0\.1:1: .* Is `smbus-proxy serve` running there\?"):
        SMBus(1, server="http://127.0.0.1:1")


def test_a_host_without_a_port_gets_the_default_port():
    assert SMBus(server="localhost").server == "http://localhost:50051"
    with pytest.raises(ConnectionError, match=r"cannot connect to http://127\.0\.0\.2:50051"):
        SMBus(1, server="127.0.0.2")
    with pytest.raises(ConnectionError, match=r"`htp://` is not a scheme the server speaks"):
        SMBus(1, server="htp://127.0.0.1:50051")


def test_a_bus_the_server_lacks_is_file_not_found_like_a_missing_dev_i2c(lab):
    with pytest.raises(FileNotFoundError) as e:
        SMBus(9, server=lab.url)
    assert e.value.errno == errno.ENOENT


def test_bus_is_a_number_or_a_dev_path(lab):
    with SMBus("/dev/i2c-1", server=lab.url) as bus:
        assert bus.read_byte_data(0x48, 0x00) == 0x19
    with pytest.raises(ValueError, match="/dev/i2c-N"):
        SMBus("i2c-1", server=lab.url)
    with pytest.raises(TypeError, match="Unexpected type"):
        SMBus(1.0, server=lab.url)
    with pytest.raises(ValueError):
        SMBus(-1, server=lab.url)


def test_open_later_and_use_after_close(lab):
    bus = SMBus(server=lab.url)
    assert repr(bus) == f"SMBus(None, server='{lab.url}')"
    assert bus.funcs == I2cFunc(0)
    with pytest.raises(OSError) as e:
        bus.read_byte(0x48)
    assert e.value.errno == errno.EBADF
    bus.open(1)
    assert repr(bus) == f"SMBus(1, server='{lab.url}')"
    assert bus.read_byte_data(0x48, 0x01) == 0x60
    bus.close()
    bus.close()
    with pytest.raises(OSError) as e:
        bus.read_byte_data(0x48, 0x01)
    assert e.value.errno == errno.EBADF
    bus.open(2)
    assert I2cFunc.SMBUS_PEC not in bus.funcs
    bus.close()


def test_the_context_manager_ends_the_session_on_the_server(lab):
    with SMBus(1, server=lab.url) as bus:
        bus.write_byte_data(0x48, 0xE0, 0xC1)
        line = lab.wait_for(r"write_byte_data 0x48 reg=0xe0 value=0xc1 → done")
        session = re.search(r"session=(\w+)", line).group(1)
    lab.wait_for(f"client closed bus 1 session={session}")
    with pytest.raises(OSError):
        bus.read_byte_data(0x48, 0x00)


def test_a_subclass_that_calls_super_init_as_with_smbus2(lab):
    class Sensor(SMBus):
        def __init__(self):
            super().__init__(1, server=lab.url)
            self.chip = 0x48

        def chip_id(self):
            return self.read_byte_data(self.chip, 0x00)

    with Sensor() as sensor:
        assert sensor.chip_id() == 0x19


def test_a_token_from_the_argument_or_the_environment(tmp_path, monkeypatch):
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    with logged_server("--token-file", str(token)) as server:
        monkeypatch.delenv("SMBUS_PROXY_TOKEN", raising=False)
        with pytest.raises(PermissionError):
            SMBus(1, server=server.url)
        with pytest.raises(PermissionError):
            SMBus(1, server=server.url, token="wrong")
        with SMBus(1, server=server.url, token="s3cret-token") as bus:
            bus.write_quick(0x48)
        monkeypatch.setenv("SMBUS_PROXY_TOKEN", "s3cret-token")
        with SMBus(1, server=server.url) as bus:
            bus.write_quick(0x48)


def test_the_session_outlives_its_lease_while_the_program_is_idle(tmp_path):
    with logged_server("--lease-ms", "300") as server:
        with SMBus(1, server=server.url) as bus:
            bus.write_byte_data(0x48, 0x02, 0x77)
            time.sleep(1.0)
            assert bus.read_byte_data(0x48, 0x02) == 0x77
        assert not [line for line in server.log() if "expired" in line]


# --- Every method --------------------------------------------------------------------------


def test_funcs_is_the_adapters_i2c_funcs(bus, lab):
    assert isinstance(bus.funcs, I2cFunc)
    for f in (I2cFunc.I2C, I2cFunc.SMBUS_PEC, I2cFunc.SMBUS_BLOCK_DATA, I2cFunc.SMBUS_I2C_BLOCK):
        assert f in bus.funcs
    with SMBus(2, server=lab.url) as pi:
        assert pi.funcs == 0x0EFF0001
        assert I2cFunc.SMBUS_READ_BLOCK_DATA not in pi.funcs


def test_write_quick(bus):
    bus.write_quick(0x48)
    bus.write_quick(0x50)


def test_read_byte_and_write_byte(bus):
    # A PCF8574 reads back its latch AND what the circuit drives (0xF0 here).
    bus.write_byte(0x20, 0x3C)
    assert bus.read_byte(0x20) == 0x30
    bus.write_byte(0x20, 0xFF)
    assert bus.read_byte(0x20) == 0xF0


def test_byte_data(bus):
    assert bus.read_byte_data(0x48, 0x00) == 0x19
    bus.write_byte_data(0x48, 0x10, 0xA5)
    assert bus.read_byte_data(0x48, 0x10) == 0xA5
    assert bus.address == 0x48


def test_word_data_is_little_endian(bus):
    bus.write_word_data(0x48, 0x12, 0xBEEF)
    assert bus.read_byte_data(0x48, 0x12) == 0xEF
    assert bus.read_byte_data(0x48, 0x13) == 0xBE
    assert bus.read_word_data(0x48, 0x12) == 0xBEEF
    assert bus.read_word_data(0x48, 0x00) == 0x6019


def test_process_call(bus):
    # The register file stores the word at 0x20 and answers with the next two registers.
    bus.write_i2c_block_data(0x48, 0x22, [0x78, 0x56])
    assert bus.process_call(0x48, 0x20, 0x1234) == 0x5678
    assert bus.read_i2c_block_data(0x48, 0x20, 2) == [0x34, 0x12]


def test_block_data(bus):
    # A block read takes its length from the device's first byte.
    bus.write_i2c_block_data(0x48, 0x30, [3, 0x0A, 0x0B, 0x0C, 0x0D])
    assert bus.read_block_data(0x48, 0x30) == [0x0A, 0x0B, 0x0C]
    # A block write sends the count, then the bytes.
    bus.write_block_data(0x48, 0x40, [9, 8, 7])
    assert bus.read_i2c_block_data(0x48, 0x40, 4) == [3, 9, 8, 7]
    bus.write_block_data(0x48, 0x40, bytes(range(32)))
    assert bus.read_i2c_block_data(0x48, 0x41, 32) == list(range(32))


def test_block_process_call(bus):
    # The written block leaves the register pointer at 0x53, where the answer starts.
    bus.write_i2c_block_data(0x48, 0x53, [2, 0xAA, 0xBB])
    assert bus.block_process_call(0x48, 0x50, [5, 6]) == [0xAA, 0xBB]
    assert bus.read_i2c_block_data(0x48, 0x50, 4) == [2, 5, 6, 2]


def test_i2c_block_data(bus):
    bus.write_i2c_block_data(0x48, 0x60, [1, 2, 3, 4])
    assert bus.read_i2c_block_data(0x48, 0x60, 4) == [1, 2, 3, 4]
    bus.write_i2c_block_data(0x48, 0x60, b"\xff\xfe")
    bus.write_i2c_block_data(0x48, 0x62, bytearray(b"\x10"))
    block = bus.read_i2c_block_data(0x48, 0x60, 32)
    assert isinstance(block, list)
    assert block[:4] == [0xFF, 0xFE, 0x10, 4]
    assert len(block) == 32


def test_the_si4703_dump(server):
    with SMBus(1, server=f"http://{server}") as bus:
        regs = bus.read_i2c_block_data(0x10, 0x0A, 32)
    assert regs[12:16] == [0x12, 0x42, 0x12, 0x00]


def test_list_buses_is_i2cdetect_l(lab):
    buses = list_buses(server=lab.url)
    assert [b.number for b in buses] == [1, 2, 3, 4, 5, 6, 7]
    first = buses[0]
    assert isinstance(first, BusInfo) and first.name == "smbus-proxy simulated bus 1"
    assert I2cFunc.I2C in first.funcs and I2cFunc.SMBUS_PEC not in buses[1].funcs


# --- i2c_rdwr ------------------------------------------------------------------------------


def test_i2c_rdwr_write_then_read_with_repeated_start(bus):
    bus.i2c_rdwr(i2c_msg.write(0x50, [0x10, 0xDE, 0xAD, 0xBE, 0xEF]))
    write, read = i2c_msg.write(0x50, [0x10]), i2c_msg.read(0x50, 4)
    assert bytes(read) == b"\x00\x00\x00\x00"
    bus.i2c_rdwr(write, read)
    assert list(read) == [0xDE, 0xAD, 0xBE, 0xEF]
    assert bytes(read) == b"\xde\xad\xbe\xef"
    assert read.buf[:4] == b"\xde\xad\xbe\xef"
    assert len(read) == read.len == 4
    assert (read.addr, read.flags) == (0x50, I2C_M_RD)
    assert (write.addr, write.flags, list(write)) == (0x50, 0, [0x10])
    assert repr(read) == "i2c_msg(80,1,b'\\xde\\xad\\xbe\\xef')"


def test_i2c_rdwr_fills_every_read_in_order(bus):
    bus.write_i2c_block_data(0x48, 0x70, b"hello, bus")
    first, second = i2c_msg.read(0x48, 5), i2c_msg.read(0x48, 2)
    bus.i2c_rdwr(i2c_msg.write(0x48, "\x70"), first, i2c_msg.write(0x48, [0x77]), second)
    assert bytes(first) == b"hello"
    assert str(first) == "hello"
    assert bytes(second) == b"bu"


def test_i2c_rdwr_read_whose_length_the_device_sends(bus):
    """I2C_M_RECV_LEN: the buffer is room, as in the kernel; it comes back as the count byte and
    the bytes after it."""
    bus.write_block_data(0x48, 0x60, [7, 8, 9])
    read = i2c_msg.read(0x48, 33)
    read.flags |= I2C_M_RECV_LEN
    bus.i2c_rdwr(i2c_msg.write(0x48, [0x60]), read)
    assert list(read) == [3, 7, 8, 9]


def test_i2c_rdwr_takes_smbus2s_own_messages(bus):
    """Code that builds its messages with smbus2 can hand them to this bus unchanged."""
    bus.i2c_rdwr(i2c_msg.write(0x50, [0x20, 1, 2, 3]))
    write, read = smbus2.i2c_msg.write(0x50, [0x20]), smbus2.i2c_msg.read(0x50, 3)
    bus.i2c_rdwr(write, read)
    assert list(read) == [1, 2, 3]


def observe(msg):
    """Everything a program reads from an i2c_msg."""
    n = msg.len
    return {
        "type(buf)": type(msg.buf).__name__,
        "buf[0]": msg.buf[0] if n else None,
        "buf[:len]": msg.buf[:n],
        "len": msg.len,
        "len()": len(msg),
        "addr": msg.addr,
        "flags": msg.flags,
        "iter": [b for b in msg],
        "list": list(msg),
        "bytes": bytes(msg),
        "repr": repr(msg),
        "str": str(msg),
    }


def test_i2c_msg_reads_as_smbus2s_does(bus):
    """Attribute by attribute against smbus2's own i2c_msg, before and after a transfer."""
    made = [
        lambda m: m.write(0x50, [0x20, 0xC3, 0x41]),
        lambda m: m.write(0x50, "AB"),
        lambda m: m.write(0x50, b""),
        lambda m: m.read(0x50, 3),
        lambda m: m.read(0x48, 0),
    ]
    for make in made:
        assert observe(make(i2c_msg)) == observe(make(smbus2.i2c_msg))
    # After a transfer; this bus takes smbus2's own messages too.
    bus.i2c_rdwr(i2c_msg.write(0x50, [0x20, 0xDE, 0xAD, 0x41]))
    ours = (i2c_msg.write(0x50, [0x20]), i2c_msg.read(0x50, 3))
    theirs = (smbus2.i2c_msg.write(0x50, [0x20]), smbus2.i2c_msg.read(0x50, 3))
    bus.i2c_rdwr(*ours)
    bus.i2c_rdwr(*theirs)
    for mine, smbus2s in zip(ours, theirs):
        assert observe(mine) == observe(smbus2s)
    assert ours[1].buf[0] == b"\xde"
    # What a program writes through the pointer is what the message sends, as in smbus2.
    msg = i2c_msg.write(0x50, [0x21, 0x01])
    msg.buf[1] = b"\x07"
    bus.i2c_rdwr(msg)
    assert bus.read_byte_data(0x50, 0x21) == 0x07


def test_i2c_rdwr_nack_keeps_the_errno(bus):
    with pytest.raises(OSError) as e:
        bus.i2c_rdwr(i2c_msg.write(ABSENT, [0]), i2c_msg.read(ABSENT, 1))
    assert e.value.errno == ENXIO


def test_i2c_msg_arguments(bus):
    with pytest.raises(ValueError):
        i2c_msg.read(0x50, -1)
    with pytest.raises(ValueError):
        i2c_msg.write(0x50, [0x100])
    with pytest.raises(ValueError):
        i2c_msg.write(0x50, "\u0100")
    with pytest.raises(TypeError):
        i2c_msg.write(0x50, 5)
    with pytest.raises(TypeError, match="i2c_msg"):
        bus.i2c_rdwr(i2c_msg.read(0x50, 1), 42)
    # The kernel's limits are the server's to enforce: 8192 bytes a message, 7-bit addresses
    # unless the message says I2C_M_TEN.
    with pytest.raises(ValueError, match="1–42"):
        bus.i2c_rdwr()
    with pytest.raises(ValueError, match="1–42"):
        bus.i2c_rdwr(*[i2c_msg.read(0x50, 1) for _ in range(43)])
    with pytest.raises(ValueError, match="8192"):
        bus.i2c_rdwr(i2c_msg.read(0x50, 8193))
    with pytest.raises(ValueError):
        bus.i2c_rdwr(i2c_msg.read(0x150, 1))
    ten_bit = i2c_msg.read(0x150, 1)
    ten_bit.flags |= I2C_M_TEN
    with pytest.raises(OSError) as e:
        bus.i2c_rdwr(ten_bit)
    assert e.value.errno == ENXIO


# --- Errors --------------------------------------------------------------------------------

EVERY_OPERATION = [
    ("write_quick", ()),
    ("read_byte", ()),
    ("write_byte", (0x01,)),
    ("read_byte_data", (0x00,)),
    ("write_byte_data", (0x00, 0x01)),
    ("read_word_data", (0x00,)),
    ("write_word_data", (0x00, 0x0102)),
    ("process_call", (0x00, 0x0102)),
    ("read_block_data", (0x00,)),
    ("write_block_data", (0x00, [1, 2])),
    ("block_process_call", (0x00, [1, 2])),
    ("read_i2c_block_data", (0x00, 4)),
    ("write_i2c_block_data", (0x00, [1, 2])),
]


@pytest.mark.parametrize("method,args", EVERY_OPERATION, ids=[m for m, _ in EVERY_OPERATION])
def test_no_device_is_oserror_enxio(bus, method, args):
    with pytest.raises(OSError) as e:
        getattr(bus, method)(ABSENT, *args)
    assert type(e.value) is OSError
    assert e.value.errno == ENXIO
    assert "ENXIO" in str(e.value) and method in str(e.value)
    assert bus.address == ABSENT


@pytest.mark.parametrize(
    "number,errno_,exception",
    [
        (3, errno.ETIMEDOUT, TimeoutError),
        (4, errno.EAGAIN, BlockingIOError),
        (5, errno.EIO, OSError),
        (6, errno.EREMOTEIO, OSError),
        (7, errno.EBADMSG, OSError),
    ],
)
def test_bus_errors_keep_the_kernels_errno(lab, number, errno_, exception):
    with SMBus(number, server=lab.url) as bus:
        with pytest.raises(OSError) as e:
            bus.read_byte_data(0x48, 0x00)
    assert e.value.errno == errno_
    assert type(e.value) is exception


def test_what_the_adapter_cannot_do_is_eopnotsupp(lab):
    with SMBus(2, server=lab.url) as pi:
        for call in (lambda: pi.read_block_data(0x48, 0), lambda: pi.block_process_call(0x48, 0, [1])):
            with pytest.raises(OSError) as e:
                call()
            assert e.value.errno == errno.EOPNOTSUPP
        assert pi.read_byte_data(0x48, 0x00) == 0x00


def test_a_driver_owned_address_is_ebusy_unless_forced(lab):
    with SMBus(1, server=lab.url) as bus:
        with pytest.raises(OSError) as e:
            bus.read_byte_data(0x68, 0x00)
        assert e.value.errno == errno.EBUSY
        bus.write_byte_data(0x68, 0x00, 0x42, force=True)
        assert bus.read_byte_data(0x68, 0x00, force=True) == 0x42
        lab.wait_for(r"read_byte_data 0x68 reg=0x00 force → 0x42")
        # The call's force does not stick; the attribute does.
        assert not bus.force
        with pytest.raises(OSError):
            bus.read_byte(0x68)
        bus.force = True
        assert bus.read_byte_data(0x68, 0x00) == 0x42
        with pytest.raises(OSError):
            bus.read_byte_data(0x68, 0x00, force=False)
    with SMBus(1, force=True, server=lab.url) as forced:
        assert forced.force
        assert forced.read_byte_data(0x68, 0x00) == 0x42


BAD_ARGUMENTS = [
    ("write_quick", (0x80,), ValueError),
    ("read_byte", (-1,), ValueError),
    ("read_byte", (72.0,), TypeError),
    ("read_byte", ("0x48",), TypeError),
    ("write_byte", (0x48, 0x100), ValueError),
    ("write_byte", (0x48, None), TypeError),
    ("read_byte_data", (0x48, 0x100), ValueError),
    ("read_byte_data", (0x48, 1.5), TypeError),
    ("write_byte_data", (0x48, 0x01, 0x1FF), ValueError),
    ("write_byte_data", (0x48, 0x01, -1), ValueError),
    ("write_byte_data", (0x48, 2**64, 0), ValueError),
    ("read_word_data", (0x48, -1), ValueError),
    ("write_word_data", (0x48, 0x01, 0x10000), ValueError),
    ("process_call", (0x48, 0x01, -1), ValueError),
    ("read_block_data", (0x48, "1"), TypeError),
    ("write_block_data", (0x48, 0x01, list(range(33))), ValueError),
    ("write_block_data", (0x48, 0x01, []), ValueError),
    ("block_process_call", (0x48, 0x01, [0x100]), ValueError),
    ("read_i2c_block_data", (0x48, 0x01, 33), ValueError),
    ("read_i2c_block_data", (0x48, 0x01, 0), ValueError),
    ("write_i2c_block_data", (0x48, 0x01, "abc"), TypeError),
    ("write_i2c_block_data", (0x48, 0x01, [1.0]), TypeError),
    ("write_i2c_block_data", (0x48, 0x01, 7), TypeError),
    ("write_i2c_block_data", (0x48, 0x01, bytes(33)), ValueError),
]


@pytest.mark.parametrize(
    "method,args,exception", BAD_ARGUMENTS, ids=[f"{m}{a!r:.30}" for m, a, _ in BAD_ARGUMENTS]
)
def test_bad_arguments_never_reach_the_bus(bus, lab, method, args, exception):
    before = len(ops_logged(lab))
    with pytest.raises(exception):
        getattr(bus, method)(*args)
    # The register a truncating client would have written keeps its value.
    assert bus.read_byte_data(0x48, 0x01) == 0x60
    # The server logs operations in the order they run: once the check's read is in the log,
    # anything the bad call did would be too.
    deadline = time.monotonic() + 5
    while len(ops_logged(lab)) < before + 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [line.split(" → ")[0].split()[-3:] for line in ops_logged(lab)[before:]] == [
        ["read_byte_data", "0x48", "reg=0x01"]
    ]


def test_force_must_be_a_bool(bus):
    with pytest.raises(TypeError):
        bus.read_byte(0x48, force="yes")
    with pytest.raises(TypeError):
        bus.force = 1


# --- PEC -----------------------------------------------------------------------------------


def test_pec_goes_with_every_smbus_operation_once_enabled(bus, lab):
    assert bus.pec == 0
    bus.enable_pec()
    assert bus.pec == 1
    bus.write_byte_data(0x48, 0x05, 0x55)
    assert bus.read_word_data(0x48, 0x05) == 0x0055
    lab.wait_for(r"write_byte_data 0x48 reg=0x05 value=0x55 pec → done")
    lab.wait_for(r"read_word_data 0x48 reg=0x05 pec → 0x0055")
    bus.enable_pec(False)
    assert bus.pec == 0
    bus.read_byte_data(0x48, 0x06)
    lab.wait_for(r"read_byte_data 0x48 reg=0x06 → ")
    bus.pec = True
    assert bus.pec == 1
    bus.close()
    assert bus.pec == 0


def test_pec_on_an_adapter_without_it_is_refused(lab):
    with SMBus(2, server=lab.url) as pi:
        with pytest.raises(OSError) as e:
            pi.enable_pec()
        assert e.value.errno == errno.EOPNOTSUPP
        with pytest.raises(OSError):
            pi.pec = 1
        assert pi.pec == 0


# --- Threads -------------------------------------------------------------------------------


def test_threads_can_share_one_bus(bus):
    failures = []

    def worker(reg):
        try:
            for i in range(100):
                bus.write_byte_data(0x48, reg, i)
                assert bus.read_byte_data(0x48, reg) == i
        except Exception as e:  # reported below, with the thread's register
            failures.append((reg, e))

    threads = [threading.Thread(target=worker, args=(0x90 + t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures
    assert bus.read_i2c_block_data(0x48, 0x90, 4) == [99] * 4


def test_the_package_has_the_version_of_the_project():
    import smbus_proxy
    from conftest import ROOT

    cargo = open(os.path.join(ROOT, "Cargo.toml")).read()
    version = re.search(r'^version = "([^"]+)"', cargo, flags=re.M).group(1)
    assert smbus_proxy.__version__ == version


# A value out of range is named as smbus2 names the argument (and i2c_msg its fields), not by
# its place in the request the client builds.
NAMED_ARGUMENTS = [
    ("write_quick", (0x80,), "i2c_addr: 0x80 is out of range for a 7-bit address 0x00–0x7f"),
    ("read_i2c_block_data", (0x48, 0x01, 33), "length: 33 bytes is out of range 1–32"),
    ("write_block_data", (0x48, 0x01, list(range(33))), "data: 33 bytes is out of range 1–32"),
    ("i2c_rdwr", (i2c_msg.read(0x50, 8193),), "i2c_msg 0: len: 8193 bytes is out of range 0–8192"),
    (
        "i2c_rdwr",
        (i2c_msg.write(0x50, [0]), i2c_msg.write(0x150, [1])),
        "i2c_msg 1: addr: 0x150 is out of range for a 7-bit address 0x00–0x7f",
    ),
    ("i2c_rdwr", (), "i2c_rdwr: 0 messages is out of range 1–42"),
]


@pytest.mark.parametrize("method,args,message", NAMED_ARGUMENTS, ids=[m for m, _, _ in NAMED_ARGUMENTS])
def test_a_value_out_of_range_is_named_as_smbus2_names_it(bus, method, args, message):
    with pytest.raises(ValueError) as e:
        getattr(bus, method)(*args)
    assert str(e.value) == message
