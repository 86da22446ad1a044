"""The original Python smbus-proxy's client flow, with stubs that grpcio-tools generates from
the project's legacy .proto: an independent gRPC implementation against our server."""

import os
import sys
import time

import grpc
import pytest
from grpc_tools import protoc

from conftest import ROOT, running_server

LEASE_MS = 500


@pytest.fixture(scope="module")
def rcp(tmp_path_factory):
    out = tmp_path_factory.mktemp("stubs")
    proto_dir = os.path.join(ROOT, "proto", "legacy")
    assert protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out}", f"--grpc_python_out={out}", "smbus_rcp.proto"]) == 0
    sys.path.insert(0, str(out))
    import smbus_rcp_pb2 as pb2
    import smbus_rcp_pb2_grpc as pb2_grpc

    with running_server("--lease-ms", str(LEASE_MS)) as addr:
        with grpc.insecure_channel(addr) as channel:
            yield pb2, pb2_grpc.SmbusRcpStub(channel)


def open_bus(pb2, stub, bus=1):
    status, call = stub.open.with_call(pb2.open_request(i2c_bus=bus))
    trailers = dict(call.trailing_metadata())
    return status, trailers.get("client_id")


def test_the_old_clients_whole_flow(rcp):
    pb2, stub = rcp
    status, client_id = open_bus(pb2, stub)
    assert status.code == 0
    assert len(client_id) == 32 and int(client_id, 16) >= 0, "client_id arrives in the trailing metadata"
    md = [("client_id", client_id)]

    assert stub.write_byte_data(pb2.write_byte_data_request(i2c_addr=0x48, register=1, value=0xA5), metadata=md).code == 0
    r = stub.read_byte_data(pb2.read_byte_data_request(i2c_addr=0x48, register=1), metadata=md)
    assert (r.status.code, r.data) == (0, 0xA5)
    assert stub.write_word_data(pb2.write_word_data_request(i2c_addr=0x48, register=2, value=0x1234), metadata=md).code == 0
    assert stub.read_word_data(pb2.read_word_data_request(i2c_addr=0x48, register=2), metadata=md).data == 0x1234
    assert stub.write_byte(pb2.write_byte_request(i2c_addr=0x48, value=2), metadata=md).code == 0
    assert stub.read_byte(pb2.read_byte_request(i2c_addr=0x48), metadata=md).data == 0x34
    w = pb2.write_i2c_block_data_request(i2c_addr=0x50, register=0x20, data=b"\x01\x02\x03")
    assert stub.write_i2c_block_data(w, metadata=md).code == 0
    r = stub.read_i2c_block_data(pb2.read_i2c_block_data_request(i2c_addr=0x50, register=0x20, length=3), metadata=md)
    assert (r.status.code, r.data, r.length) == (0, b"\x01\x02\x03", 3)
    # As the old client sends it: no length, a whole block. The Si4703's dump follows.
    r = stub.read_i2c_block_data(pb2.read_i2c_block_data_request(i2c_addr=0x10, register=0x0A), metadata=md)
    assert r.length == 32
    assert r.data[12:18] == bytes([0x12, 0x42, 0x12, 0x00, 0x0A, 0x00])

    assert stub.ping(pb2.keep_alive(info="still here"), metadata=md).code == 0
    assert stub.close(pb2.close_request(), metadata=md).code == 0
    r = stub.read_byte(pb2.read_byte_request(i2c_addr=0x48), metadata=md)
    assert r.status.code == 1 and "unknown or expired" in r.status.exception


def test_an_error_is_an_answer_not_a_crash(rcp):
    pb2, stub = rcp
    _, client_id = open_bus(pb2, stub)
    md = [("client_id", client_id)]
    r = stub.read_byte_data(pb2.read_byte_data_request(i2c_addr=0x33, register=0), metadata=md)
    assert r.status.code == 1
    assert r.status.exception == "[Errno 6] no device acknowledged the address (ENXIO)"
    r = stub.read_byte_data(pb2.read_byte_data_request(i2c_addr=0x48, register=0x100), metadata=md)
    assert r.status.exception == "register: 0x100 is out of range 0x00–0xFF"
    r = stub.read_byte(pb2.read_byte_request(i2c_addr=0x48))
    assert r.status.code == 1 and r.status.exception.startswith("no client_id")
    status, client_id = open_bus(pb2, stub, bus=7)
    assert (status.code, client_id) == (1, None)
    # ...and the server still serves.
    assert stub.ping(pb2.keep_alive(), metadata=md).code == 0


def test_sessions_expire_after_the_lease_and_pings_renew_them(rcp):
    pb2, stub = rcp
    _, pinged = open_bus(pb2, stub)
    _, idle = open_bus(pb2, stub)
    # The old client pinged every second; here every fifth of the lease, for three leases.
    for _ in range(15):
        time.sleep(LEASE_MS / 5000)
        assert stub.ping(pb2.keep_alive(), metadata=[("client_id", pinged)]).code == 0
    r = stub.read_byte(pb2.read_byte_request(i2c_addr=0x48), metadata=[("client_id", pinged)])
    assert r.status.code == 0
    r = stub.read_byte(pb2.read_byte_request(i2c_addr=0x48), metadata=[("client_id", idle)])
    assert r.status.code == 1 and "unknown or expired" in r.status.exception
