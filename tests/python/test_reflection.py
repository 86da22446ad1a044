"""An independent gRPC client (grpcio) discovers the service by reflection and calls it."""

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def test_reflection_lists_the_services(server):
    with grpc.insecure_channel(server) as channel:
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert {"smbus.v1.Smbus", "grpc.health.v1.Health"} <= services


def test_a_call_built_from_reflection_alone(server):
    with grpc.insecure_channel(server) as channel:
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        service = pool.FindServiceByName("smbus.v1.Smbus")
        methods = {m.name for m in service.methods}
        assert {"ListBuses", "Open", "Close", "KeepAlive", "Lock", "Unlock", "Execute", "ExecuteStream"} <= methods

        def call(method, **fields):
            m = service.FindMethodByName(method)
            request = message_factory.GetMessageClass(m.input_type)(**fields)
            response_class = message_factory.GetMessageClass(m.output_type)
            stub = channel.unary_unary(
                f"/smbus.v1.Smbus/{method}",
                request_serializer=lambda r: r.SerializeToString(),
                response_deserializer=response_class.FromString,
            )
            return stub(request, timeout=5)

        buses = call("ListBuses").buses
        assert [b.number for b in buses] == [1]
        session = call("Open", bus=1).session
        assert len(session) == 32

        op_class = message_factory.GetMessageClass(pool.FindMessageTypeByName("smbus.v1.Op"))
        read = op_class()
        read.smbus.addr = 0x10
        read.smbus.read_i2c_block_data.reg = 0x0A
        read.smbus.read_i2c_block_data.len = 32
        result = call("Execute", session=session, ops=[read])
        regs = result.results[0].block
        assert regs[12:18] == bytes([0x12, 0x42, 0x12, 0x00, 0x0A, 0x00])

        try:
            bad = op_class()
            bad.smbus.addr = 0x80
            bad.smbus.read_byte.SetInParent()
            call("Execute", session=session, ops=[bad])
            raise AssertionError("an out-of-range address must be refused")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert e.details().startswith("ops[0].smbus.addr: 0x80 is out of range")
        call("Close", session=session)
