"""Send real sFlow version 5 datagrams, as a peering switch would.

Written from the sFlow v5 specification (sflow.org, sflow_version_5.txt):
a datagram carries flow samples; each flow sample carries one "sampled
header" record (enterprise 0, format 1) holding the first bytes of an
Ethernet frame. The collector (pmacct's sfacctd) reads the source and
destination MAC from that header and, renormalising, counts each sample
as ``sampling_rate`` frames.

The lab has no switch ASIC that samples traffic, so tests use this
sender to feed sfacctd real datagrams with known content and check the
per-member byte counters that come out in Prometheus.

Command line (see ``--help``)::

    python -m caribix.monitoring_sflow --collector 192.0.2.66 \
        --flow 02:ca:00:01:00:10,02:ca:00:01:00:11,1000 --sampling-rate 512
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import struct
from dataclasses import dataclass

SFLOW_VERSION = 5
# data_format values are (enterprise << 12) | format; enterprise 0 = sFlow.
FLOW_SAMPLE_FORMAT = 1
SAMPLED_HEADER_FORMAT = 1
HEADER_PROTOCOL_ETHERNET = 1
ADDRESS_TYPE_IPV4 = 1
ADDRESS_TYPE_IPV6 = 2
ETHERTYPE_IPV4 = 0x0800
ETHERNET_HEADER_LENGTH = 14
ETHERNET_FCS_LENGTH = 4
IPV4_HEADER_LENGTH = 20
# Switches copy the first 128 bytes of a frame by default.
DEFAULT_HEADER_BYTES = 128
SFLOW_PORT = 6343


def parse_mac(mac: str) -> bytes:
    """'02:ca:00:01:00:10' (or with '-') -> 6 bytes."""
    parts = mac.replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(part) == 2 for part in parts):
        raise ValueError(f"not a MAC address: {mac!r}")
    return bytes(int(part, 16) for part in parts)


def _ipv4_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethernet_ipv4_frame(src_mac: str, dst_mac: str, frame_length: int, src_ip: str = "192.0.2.10", dst_ip: str = "192.0.2.11") -> bytes:
    """A whole Ethernet/IPv4/UDP frame of ``frame_length`` bytes (FCS excluded).

    The IPv4 total length matches the frame, so a collector that counts
    bytes from the IP header and one that counts from the frame agree on
    what the frame was.
    """
    minimum = ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + 8
    if frame_length < minimum:
        raise ValueError(f"frame_length {frame_length} is below {minimum} (Ethernet + IPv4 + UDP headers)")
    ip_length = frame_length - ETHERNET_HEADER_LENGTH
    ip_header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        ip_length,
        0,
        0x4000,  # don't fragment
        64,
        17,  # UDP
        0,
        ipaddress.IPv4Address(src_ip).packed,
        ipaddress.IPv4Address(dst_ip).packed,
    )
    ip_header = ip_header[:10] + struct.pack("!H", _ipv4_checksum(ip_header)) + ip_header[12:]
    udp_length = ip_length - IPV4_HEADER_LENGTH
    udp_header = struct.pack("!HHHH", 40000, 9, udp_length, 0)  # discard port
    payload = bytes(udp_length - 8)
    return parse_mac(dst_mac) + parse_mac(src_mac) + struct.pack("!H", ETHERTYPE_IPV4) + ip_header + udp_header + payload


def _opaque(data: bytes) -> bytes:
    """XDR variable-length opaque: length, data, zero padding to 4 bytes."""
    return struct.pack("!I", len(data)) + data + bytes(-len(data) % 4)


def _agent_address(agent: str) -> bytes:
    address = ipaddress.ip_address(agent)
    kind = ADDRESS_TYPE_IPV4 if address.version == 4 else ADDRESS_TYPE_IPV6
    return struct.pack("!I", kind) + address.packed


@dataclass(frozen=True)
class FlowSample:
    """One sampled frame as a switch port reports it."""

    frame: bytes
    sampling_rate: int
    sequence_number: int = 1
    input_ifindex: int = 1
    output_ifindex: int = 2
    header_bytes: int = DEFAULT_HEADER_BYTES

    def encode(self) -> bytes:
        header = self.frame[: self.header_bytes]
        sampled_header = struct.pack(
            "!III",
            HEADER_PROTOCOL_ETHERNET,
            # On the wire the frame carried an FCS the sampler strips.
            len(self.frame) + ETHERNET_FCS_LENGTH,
            ETHERNET_FCS_LENGTH,
        ) + _opaque(header)
        record = struct.pack("!I", SAMPLED_HEADER_FORMAT) + _opaque(sampled_header)
        body = (
            struct.pack(
                "!IIIIIII",
                self.sequence_number,
                self.input_ifindex,  # source id: type 0 (ifIndex), index
                self.sampling_rate,
                # sample pool: frames seen; a 32-bit counter that wraps.
                (self.sequence_number * self.sampling_rate) % 2**32,
                0,  # drops
                self.input_ifindex,
                self.output_ifindex,
            )
            + struct.pack("!I", 1)
            + record
        )
        return struct.pack("!I", FLOW_SAMPLE_FORMAT) + _opaque(body)


def encode_datagram(samples: list[FlowSample], agent: str = "192.0.2.254", sequence_number: int = 1, uptime_ms: int = 1000, sub_agent_id: int = 0) -> bytes:
    """An sFlow v5 datagram carrying ``samples``."""
    return (
        struct.pack("!I", SFLOW_VERSION)
        + _agent_address(agent)
        + struct.pack("!IIII", sub_agent_id, sequence_number, uptime_ms, len(samples))
        + b"".join(sample.encode() for sample in samples)
    )


def send(collector: tuple[str, int], datagrams: list[bytes]) -> None:
    family = socket.AF_INET6 if ":" in collector[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        for datagram in datagrams:
            sock.sendto(datagram, collector)


def _parse_flow(text: str) -> tuple[str, str, int]:
    try:
        src, dst, length = text.split(",")
        parse_mac(src)
        parse_mac(dst)
        return src, dst, int(length)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--flow wants SRC_MAC,DST_MAC,FRAME_LENGTH: {error}") from error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--collector", required=True, help="address of sfacctd")
    parser.add_argument("--port", type=int, default=SFLOW_PORT)
    parser.add_argument("--agent", default="192.0.2.254", help="agent (switch) address written in the datagram")
    parser.add_argument("--flow", action="append", type=_parse_flow, required=True, help="SRC_MAC,DST_MAC,FRAME_LENGTH; repeatable")
    parser.add_argument("--sampling-rate", type=int, default=512)
    parser.add_argument("--count", type=int, default=1, help="samples per flow")
    args = parser.parse_args(argv)
    datagrams = []
    sequence = 1
    for _ in range(args.count):
        samples = []
        for src, dst, length in args.flow:
            samples.append(FlowSample(ethernet_ipv4_frame(src, dst, length), args.sampling_rate, sequence_number=sequence))
            sequence += 1
        datagrams.append(encode_datagram(samples, agent=args.agent, sequence_number=len(datagrams) + 1))
    send((args.collector, args.port), datagrams)
    print(f"sent {len(datagrams)} datagram(s), {sequence - 1} sample(s) to {args.collector} port {args.port}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
