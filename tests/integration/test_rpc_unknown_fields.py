# SPDX-License-Identifier: Apache-2.0
"""Requests with fields authd does not know: they are ignored and never stored.

Found by tests/fuzz/fuzz_rpc: protobuf-c accepts an unknown field whose number 0 is written as
an overlong varint (0x81 0x00) but refuses the same field once packed again. authd stored the
unknown fields of a PutAuthConfig request with the config, so one such call made the stored
config unreadable: GetAuthConfig failed and authd refused to start. The adapter now drops unknown
fields from every request it decodes.
"""
from conftest import admin_pb2

PUT = "/authd.v1.Admin/PutAuthConfig"
GET = "/authd.v1.Admin/GetAuthConfig"

FIELD0_OVERLONG = b"\x81\x00" + bytes(8)  # field 0, fixed64, tag as an overlong varint
FIELD127 = b"\xf8\x07\x01"  # field 127, varint 1: a field no version of the contract has


def put_raw(authd, raw):
    fn = authd.channel.unary_unary(PUT, request_serializer=lambda b: b,
                                   response_deserializer=admin_pb2.AuthConfig.FromString)
    return fn(raw, timeout=10)


def get(authd):
    return authd.call(GET, admin_pb2.GetAuthConfigRequest(), admin_pb2.AuthConfig)


def test_unknown_fields_are_ignored_and_not_stored(authd):
    theme = admin_pb2.Theme(title="Unknown fields").SerializeToString() + FIELD0_OVERLONG
    raw = (admin_pb2.AuthConfig(asid_cookie_max_age=600).SerializeToString()
           + b"\x1a" + bytes([len(theme)]) + theme  # field 3 (theme) with an unknown field inside
           + FIELD0_OVERLONG + FIELD127)
    put = put_raw(authd, raw)
    assert put.theme.title == "Unknown fields"
    assert put.asid_cookie_max_age == 600
    got = get(authd)
    assert got.theme.title == "Unknown fields"
    # Nothing unknown was kept (the Python client keeps unknown fields when re-serialising).
    assert FIELD127 not in got.SerializeToString()
    assert FIELD0_OVERLONG not in got.SerializeToString()
    authd.restart()
    assert get(authd).asid_cookie_max_age == 600
