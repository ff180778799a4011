"""Nothing the project starts listens beyond the loopback interface: the host LocalStack
(scripts/localstack.sh), the ports compose.yml publishes, and servers in the Python code.
"""

import ast
import re
from pathlib import Path

import yaml

from tests.static.support import ROOT, repo_files

LOCALSTACK_SCRIPT = ROOT / "scripts" / "localstack.sh"
COMPOSE = ROOT / "compose.yml"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
# Calls whose first argument is an (address, port) pair.
SERVER_CALLS = {"bind", "create_server", "HTTPServer", "ThreadingHTTPServer", "TCPServer"}
CODE_AND_CONFIG = {".sh", ".py", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".env", ".json"}


def shell_lines(path: Path) -> list[str]:
    """The script's logical lines: continuations joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    return [line.strip() for line in text.splitlines() if not line.strip().startswith("#")]


def expand(value: str, variables: dict[str, str]) -> str:
    """Shell-style $VAR, ${VAR} and ${VAR:-default} (the default: what runs unless overridden)."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1) or match.group(3), match.group(2)
        return default if default is not None else variables.get(name, "")

    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)", replace, value.strip("\"'"))


def localstack_listen_addresses(script: Path) -> list[str]:
    """GATEWAY_LISTEN of each command in ``script`` that starts the LocalStack runtime."""
    lines = shell_lines(script)
    variables = {}
    for line in lines:
        if match := re.fullmatch(r"(\w+)=(\S+)", line):
            variables[match.group(1)] = expand(match.group(2), variables)
    starts = [line for line in lines if "localstack.runtime.main" in line]
    assert starts, f"{script.name} has no command that starts localstack.runtime.main"
    addresses = []
    for line in starts:
        assert re.search(r"\bDNS_ADDRESS=0\b", line), (
            f"LocalStack started without DNS_ADDRESS=0 (its DNS server binds 0.0.0.0:53): {line}"
        )
        listen = re.search(r"\bGATEWAY_LISTEN=(\S+)", line)
        assert listen, f"LocalStack started without GATEWAY_LISTEN: {line}"
        addresses += expand(listen.group(1), variables).split(",")
    return addresses


def test_localstack_listens_on_loopback_only() -> None:
    addresses = localstack_listen_addresses(LOCALSTACK_SCRIPT)
    hosts = {address.rpartition(":")[0].strip("[]") for address in addresses}
    assert hosts == {"127.0.0.1"}, f"GATEWAY_LISTEN={','.join(addresses)}"


def host_ip(port: object) -> str | None:
    """The host address a compose ``ports`` entry publishes on (None: every interface)."""
    if isinstance(port, dict):
        return port.get("host_ip")
    spec = str(port).split("/")[0]  # drop /tcp, /udp
    if spec.startswith("["):  # [::1]:8080:80
        return spec[1 : spec.index("]")]
    parts = spec.split(":")
    return parts[0] if len(parts) == 3 else None  # IP:HOST:CONTAINER; else all interfaces


def test_compose_publishes_ports_on_loopback_only() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    problems = []
    for name, service in services.items():
        if service.get("network_mode") == "host":
            problems.append(f"{name}: network_mode host")
        problems += [
            f"{name}: port {port!r} is published beyond 127.0.0.1"
            for port in service.get("ports", [])
            if host_ip(port) != "127.0.0.1"
        ]
    assert not problems, "\n".join(problems)


def python_server_binds(path: Path) -> list[str]:
    """Server sockets in ``path`` bound to a literal non-loopback address ('' is every one)."""
    problems = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", None))
        hosts = [k.value for k in node.keywords if k.arg == "host"]
        if name in SERVER_CALLS and node.args and isinstance(node.args[0], ast.Tuple):
            hosts.append(node.args[0].elts[0] if node.args[0].elts else None)
        for host in hosts:
            if isinstance(host, ast.Constant) and host.value not in LOOPBACK:
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name} on {host.value!r}")
    return problems


def test_python_servers_bind_loopback_only() -> None:
    problems = [
        p for path in repo_files() if path.suffix == ".py" for p in python_server_binds(path)
    ]
    assert not problems, "\n".join(problems)


def test_no_wildcard_listen_address_in_code_or_config() -> None:
    here = Path(__file__).parent
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in repo_files()
        if path.suffix in CODE_AND_CONFIG and path.parent != here
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1)
        if "0.0.0.0" in line
    ]
    assert not hits, "\n".join(hits)
