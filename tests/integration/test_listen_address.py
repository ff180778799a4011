"""The running host LocalStack listens on the loopback interface only (what its GATEWAY_LISTEN
says: LocalStack's default twisted server would listen on every interface)."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

LISTEN = "0A"  # TCP state in /proc/net/tcp


def listening_addresses(port: int) -> set[str]:
    """IPv4 and IPv6 addresses (hex, as the kernel writes them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == LISTEN and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_gateway_listens_on_loopback_only(localstack: str) -> None:
    port = int(localstack.rsplit(":", 1)[1])
    addresses = listening_addresses(port)
    assert addresses == {"0100007F"}, f"port {port} listens on {addresses} (hex), not 127.0.0.1"
