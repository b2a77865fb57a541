"""A stand-in for the host's DNS server, as seen from the containers.

Docker's embedded DNS answers the names of a compose network itself and forwards any
other name to the host's DNS servers. On a usual host those answer at once, so the
name of a container that is gone (a killed broker node) fails to resolve in
milliseconds. Here no DNS server is reachable from a container (no NAT), and such a
lookup waits ~10 s; a RabbitMQ node that tries to reconnect to its dead peer stalls
on it, and so does every client that tries that node. This responder answers every
forwarded query at once with NXDOMAIN ("no such name"), which is what a host's
resolver says about a compose service name; the containers are pointed at it with
compose's ``dns`` option in the test-only override.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import threading

NXDOMAIN = 3
SIOCGIFADDR = 0x8915  # ioctl: an interface's IPv4 address


def docker0_address() -> str:
    """The host's address on Docker's default bridge: every container can reach it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        packed = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", b"docker0"))
    return socket.inet_ntoa(packed[20:24])


def nxdomain(query: bytes) -> bytes | None:
    """The answer to a DNS query: its id and question back, flags QR|RD|RA, rcode NXDOMAIN."""
    if len(query) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", query[:6])
    if flags & 0x8000:  # a response, not a query
        return None
    end = 12
    for _ in range(qdcount):  # skip each question: labels, then type and class
        while end < len(query) and query[end] != 0:
            end += query[end] + 1
        end += 5
    answer_flags = 0x8000 | (flags & 0x0100) | 0x0080 | NXDOMAIN
    return struct.pack("!HHHHHH", ident, answer_flags, qdcount, 0, 0, 0) + query[12:end]


class NoSuchNameResolver:
    """UDP port 53 on the docker0 address, answering NXDOMAIN, in a thread until closed."""

    def __init__(self) -> None:
        self.address = docker0_address()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.address, 53))
        self.sock.settimeout(0.5)
        self.answered = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="nxdomain-resolver", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                query, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            answer = nxdomain(query)
            if answer is not None:
                self.sock.sendto(answer, peer)
                self.answered += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()
