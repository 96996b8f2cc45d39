"""caribix.monitoring_sflow: sFlow v5 datagrams laid out as the specification says.

The decoder here is written from sflow_version_5.txt independently of the
encoder (fixed offsets, not the encoder's helpers); sfacctd decoding the
same datagrams is checked in the Molecule scenario molecule/monitoring.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caribix.monitoring_sflow import FlowSample, encode_datagram, ethernet_ipv4_frame, main, parse_mac


def decode(datagram: bytes) -> dict:
    version, address_type = struct.unpack_from("!II", datagram, 0)
    offset = 8
    length = 4 if address_type == 1 else 16
    agent = str(ipaddress.ip_address(datagram[offset : offset + length]))
    offset += length
    sub_agent, sequence, uptime, count = struct.unpack_from("!IIII", datagram, offset)
    offset += 16
    samples = []
    for _ in range(count):
        sample_format, sample_length = struct.unpack_from("!II", datagram, offset)
        offset += 8
        body = datagram[offset : offset + sample_length]
        offset += sample_length
        seq, source, rate, pool, drops, in_if, out_if, records = struct.unpack_from("!8I", body, 0)
        record_format, record_length = struct.unpack_from("!II", body, 32)
        protocol, frame_length, stripped, header_length = struct.unpack_from("!4I", body, 40)
        header = body[56 : 56 + header_length]
        assert record_length == 16 + header_length + (-header_length % 4)
        assert len(body) == 40 + record_length
        samples.append(
            dict(format=sample_format, sequence=seq, source=source, rate=rate, pool=pool, drops=drops, input=in_if, output=out_if,
                 records=records, record_format=record_format, protocol=protocol, frame_length=frame_length, stripped=stripped, header=header)
        )
    assert offset == len(datagram), "trailing bytes"
    return dict(version=version, agent=agent, sub_agent=sub_agent, sequence=sequence, uptime=uptime, samples=samples)


def test_datagram_layout():
    frame = ethernet_ipv4_frame("02:ca:00:01:00:10", "02:ca:00:01:00:11", 1000)
    datagram = encode_datagram([FlowSample(frame, 512, sequence_number=7)], agent="192.0.2.254", sequence_number=3, uptime_ms=5000)
    decoded = decode(datagram)
    assert decoded["version"] == 5
    assert decoded["agent"] == "192.0.2.254"
    assert (decoded["sequence"], decoded["uptime"]) == (3, 5000)
    (sample,) = decoded["samples"]
    assert sample["format"] == 1  # enterprise 0, flow_sample
    assert sample["record_format"] == 1  # sampled header
    assert sample["protocol"] == 1  # Ethernet
    assert sample["rate"] == 512
    assert sample["frame_length"] == 1004 and sample["stripped"] == 4  # FCS counted, then stripped
    assert len(sample["header"]) == 128  # switches copy the first 128 bytes
    assert sample["header"][:6] == parse_mac("02:ca:00:01:00:11")  # destination first
    assert sample["header"][6:12] == parse_mac("02:ca:00:01:00:10")


def test_frame_is_a_valid_ipv4_packet():
    frame = ethernet_ipv4_frame("02:00:00:00:00:01", "02:00:00:00:00:02", 300, "192.0.2.10", "192.0.2.11")
    assert len(frame) == 300
    assert frame[12:14] == b"\x08\x00"
    ip_header = frame[14:34]
    assert struct.unpack("!H", ip_header[2:4])[0] == 286
    # A header with its checksum sums to 0xffff.
    total = sum(struct.unpack("!10H", ip_header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF
    assert ip_header[12:16] == socket.inet_aton("192.0.2.10")


@given(
    frame_length=st.integers(min_value=42, max_value=9000),
    rate=st.integers(min_value=1, max_value=2**32 - 1),
    samples=st.integers(min_value=1, max_value=5),
    agent=st.sampled_from(["192.0.2.1", "2001:db8::1"]),
)
def test_any_datagram_decodes(frame_length, rate, samples, agent):
    frame = ethernet_ipv4_frame("02:00:00:00:00:01", "02:00:00:00:00:02", frame_length)
    decoded = decode(encode_datagram([FlowSample(frame, rate, sequence_number=n + 1) for n in range(samples)], agent=agent))
    assert decoded["agent"] == str(ipaddress.ip_address(agent))
    assert [s["rate"] for s in decoded["samples"]] == [rate] * samples
    assert all(s["frame_length"] == frame_length + 4 for s in decoded["samples"])
    # The sample pool is a 32-bit counter: it wraps, never overflows the field.
    assert [s["pool"] for s in decoded["samples"]] == [(n + 1) * rate % 2**32 for n in range(samples)]
    assert all(len(s["header"]) == min(frame_length, 128) for s in decoded["samples"])


@pytest.mark.parametrize("bad", ["02:ca:00:01:00", "02:ca:00:01:00:1", "zz:ca:00:01:00:10"])
def test_bad_mac_rejected(bad):
    with pytest.raises(ValueError):
        parse_mac(bad)


def test_too_short_frame_rejected():
    with pytest.raises(ValueError, match="below 42"):
        ethernet_ipv4_frame("02:00:00:00:00:01", "02:00:00:00:00:02", 41)


def test_command_line_sends_real_udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        port = receiver.getsockname()[1]
        assert main(["--collector", "127.0.0.1", "--port", str(port), "--flow", "02:00:00:00:00:01,02:00:00:00:00:02,500", "--count", "2", "--sampling-rate", "64"]) == 0
        datagrams = [decode(receiver.recvfrom(65535)[0]) for _ in range(2)]
    assert [d["sequence"] for d in datagrams] == [1, 2]
    assert all(d["samples"][0]["rate"] == 64 for d in datagrams)
