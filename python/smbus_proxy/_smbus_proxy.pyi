import ctypes
import os
from types import TracebackType
from typing import Iterable, Iterator, List, Optional, SupportsBytes, Tuple, Type, Union

from . import I2cFunc

__version__: str

class i2c_msg:
    """One message of a combined I2C transfer (``SMBus.i2c_rdwr``), as smbus2's ``i2c_msg``."""

    addr: int
    flags: int
    @property
    def len(self) -> int: ...
    @property
    def buf(self) -> "ctypes._Pointer[ctypes.c_char]": ...
    @staticmethod
    def read(address: int, length: int) -> "i2c_msg": ...
    @staticmethod
    def write(address: int, buf: Union[str, bytes, bytearray, Iterable[int]]) -> "i2c_msg": ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[int]: ...
    def __bytes__(self) -> bytes: ...

class SMBus:
    """An I2C/SMBus bus on an smbus-proxy server, with smbus2's ``SMBus`` interface."""

    @property
    def funcs(self) -> I2cFunc: ...
    address: Optional[int]
    force: bool
    @property
    def pec(self) -> int: ...
    @pec.setter
    def pec(self, value: Union[bool, int]) -> None: ...
    @property
    def server(self) -> str: ...
    def __init__(
        self,
        bus: Union[None, int, str] = None,
        force: bool = False,
        *,
        server: Optional[str] = None,
        token: Optional[str] = None,
        ca: Union[None, str, "os.PathLike[str]"] = None,
        cert: Union[None, str, "os.PathLike[str]"] = None,
        key: Union[None, str, "os.PathLike[str]"] = None,
        timeout: Optional[float] = None,
        pipeline: Union[bool, int] = False,
        resume_window: Optional[float] = None,
        outage_wait: Optional[float] = None,
    ) -> None: ...
    def __enter__(self) -> "SMBus": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_val: Optional[BaseException],
        exc_tb: Optional[TracebackType],
    ) -> None: ...
    def open(self, bus: Union[int, str]) -> None: ...
    def close(self) -> None: ...
    def flush(self) -> None: ...
    def wait(self, seconds: float) -> None: ...
    def poll_ack(
        self, i2c_addr: int, timeout: float, interval: Optional[float] = None, force: Optional[bool] = None
    ) -> None: ...
    def poll_byte_data(
        self,
        i2c_addr: int,
        register: int,
        mask: int,
        value: int,
        timeout: float,
        interval: Optional[float] = None,
        force: Optional[bool] = None,
    ) -> int: ...
    def poll_word_data(
        self,
        i2c_addr: int,
        register: int,
        mask: int,
        value: int,
        timeout: float,
        interval: Optional[float] = None,
        force: Optional[bool] = None,
    ) -> int: ...
    def enable_pec(self, enable: bool = True) -> None: ...
    def write_quick(self, i2c_addr: int, force: Optional[bool] = None) -> None: ...
    def read_byte(self, i2c_addr: int, force: Optional[bool] = None) -> int: ...
    def write_byte(self, i2c_addr: int, value: int, force: Optional[bool] = None) -> None: ...
    def read_byte_data(self, i2c_addr: int, register: int, force: Optional[bool] = None) -> int: ...
    def write_byte_data(
        self, i2c_addr: int, register: int, value: int, force: Optional[bool] = None
    ) -> None: ...
    def read_word_data(self, i2c_addr: int, register: int, force: Optional[bool] = None) -> int: ...
    def write_word_data(
        self, i2c_addr: int, register: int, value: int, force: Optional[bool] = None
    ) -> None: ...
    def process_call(
        self, i2c_addr: int, register: int, value: int, force: Optional[bool] = None
    ) -> int: ...
    def read_block_data(
        self, i2c_addr: int, register: int, force: Optional[bool] = None
    ) -> List[int]: ...
    def write_block_data(
        self,
        i2c_addr: int,
        register: int,
        data: Union[bytes, bytearray, Iterable[int]],
        force: Optional[bool] = None,
    ) -> None: ...
    def block_process_call(
        self,
        i2c_addr: int,
        register: int,
        data: Union[bytes, bytearray, Iterable[int]],
        force: Optional[bool] = None,
    ) -> List[int]: ...
    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: Optional[bool] = None
    ) -> List[int]: ...
    def write_i2c_block_data(
        self,
        i2c_addr: int,
        register: int,
        data: Union[bytes, bytearray, Iterable[int]],
        force: Optional[bool] = None,
    ) -> None: ...
    def i2c_rdwr(self, *i2c_msgs: Union[i2c_msg, SupportsBytes]) -> None: ...

def list_buses(
    *,
    server: Optional[str] = None,
    token: Optional[str] = None,
    ca: Union[None, str, "os.PathLike[str]"] = None,
    cert: Union[None, str, "os.PathLike[str]"] = None,
    key: Union[None, str, "os.PathLike[str]"] = None,
) -> List[Tuple[int, str, int]]: ...

class LineEvent:
    line: str
    edge: str
    timestamp_ns: int
    seqno: int
    lost: int

class LineEvents(Iterator[LineEvent]):
    def __iter__(self) -> "LineEvents": ...
    def __next__(self) -> LineEvent: ...

class Line:
    def __init__(
        self,
        name: str,
        *,
        output: bool = False,
        value: bool = False,
        active_low: bool = False,
        bias: Optional[str] = None,
        drive: str = "push-pull",
        edges: Optional[str] = None,
        debounce: float = 0.0,
        realtime: bool = False,
        bus: Optional[int] = None,
        server: Optional[str] = None,
        token: Optional[str] = None,
        ca: Union[None, str, "os.PathLike[str]"] = None,
        cert: Union[None, str, "os.PathLike[str]"] = None,
        key: Union[None, str, "os.PathLike[str]"] = None,
        timeout: Optional[float] = None,
        resume_window: Optional[float] = None,
        outage_wait: Optional[float] = None,
    ) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def output(self) -> bool: ...
    value: bool
    def read(self) -> bool: ...
    def reconfigure(
        self,
        *,
        output: Optional[bool] = None,
        value: Optional[bool] = None,
        active_low: Optional[bool] = None,
        bias: Optional[str] = None,
        drive: Optional[str] = None,
        edges: Optional[str] = None,
        debounce: Optional[float] = None,
        realtime: Optional[bool] = None,
    ) -> None: ...
    def wait_edge(self, edges: str = "both", timeout: Optional[float] = None) -> Optional[LineEvent]: ...
    def wait_level(self, value: bool, timeout: Optional[float] = None) -> bool: ...
    def events(self) -> LineEvents: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Line": ...
    def __exit__(self, *exc_info: object) -> None: ...

def list_lines(
    *,
    server: Optional[str] = None,
    token: Optional[str] = None,
    ca: Union[None, str, "os.PathLike[str]"] = None,
    cert: Union[None, str, "os.PathLike[str]"] = None,
    key: Union[None, str, "os.PathLike[str]"] = None,
) -> List[Tuple[str, str, int, bool, str, bool, Optional[bool]]]: ...
