"""Where a download link may lead: the redirect policy for the storage host.

The API answers a download call with a redirect to a signed URL, which the tap follows without
the key. A server that chose that URL badly, or on purpose, could point the tap at a host it
should never read from: a cloud's metadata service (link-local 169.254.169.254), a service on
the machine's own network, or a plain-http copy of what should travel encrypted. So a link is
followed only when:

- its scheme is http(s), and https whenever the API itself is https;
- every address its host resolves to is a public one, or of the same class as the API's own
  (an API on this machine, the local sandbox, may send the tap to storage on this machine; one
  on a private network, to that network);
- and the connection goes to an address that was checked: the tap connects to the address it
  resolved and checked, never resolving the name again (no second answer can point elsewhere),
  except through a proxy, which resolves names itself.

A link refused is one plain line naming its scheme or its address's class, never its secrets.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from urllib.parse import urlsplit

from tap_openai_compliance.errors import ComplianceTapError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
WEB_SCHEMES = ("https", "http")


class LinkRefusedError(ComplianceTapError):
    """A download link the tap does not follow; its message says why, never the link."""


@dataclasses.dataclass(frozen=True)
class Destination:
    """A link the tap may follow: its host as named, and the checked address to connect to."""

    scheme: str
    host: str
    port: int
    address: str


def address_class(address: Address) -> str | None:
    """The kind of a non-public address, as a message names it (None: a public address)."""
    if address.is_link_local:
        return "link-local"
    if address.is_loopback:
        return "loopback"
    if address.is_multicast or address.is_unspecified:
        return "multicast or unspecified"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "reserved"
    return None


def resolve(host: str, port: int) -> list[Address]:
    """The addresses ``host`` stands for (an address literal stands for itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]


class LinkPolicy:
    """Decides where download links may lead, from where the API itself is."""

    def __init__(self, api_url: str) -> None:
        parts = urlsplit(api_url)
        self._https_only = parts.scheme == "https"
        api_addresses = resolve(parts.hostname or "", parts.port or 443)
        # An API on a loopback, private or link-local address (the sandbox, a test server)
        # may have its storage host in that class of addresses too, and no other.
        self._classes_allowed = {address_class(address) for address in api_addresses} - {
            None,
            "multicast or unspecified",
        }

    def destination(self, link: str, *, pinned: bool = True) -> Destination:
        """Where ``link`` leads, checked; ``LinkRefusedError`` when the tap must not go there.

        ``pinned`` (no proxy between): the host must resolve, and its first checked address is
        the one to connect to.
        """
        try:
            parts = urlsplit(link)
            port = parts.port
        except ValueError:
            raise LinkRefusedError("the download link cannot be read as a URL") from None
        scheme = parts.scheme.lower()
        if scheme not in WEB_SCHEMES:
            shown = f"a {scheme}: address" if scheme else "an address without a scheme"
            raise LinkRefusedError(f"the download link is {shown}, not http(s)")
        if self._https_only and scheme != "https":
            raise LinkRefusedError(
                "the download link is plain http while the API is https: log files travel "
                "encrypted or not at all"
            )
        host = parts.hostname or ""
        if not host:
            raise LinkRefusedError("the download link names no host")
        port = port or (443 if scheme == "https" else 80)
        addresses = resolve(host, port)
        if not addresses and pinned:
            raise LinkRefusedError(f"the storage host {host} does not resolve to an address")
        for address in addresses:
            kind = address_class(address)
            if kind is not None and kind not in self._classes_allowed:
                raise LinkRefusedError(
                    f"the download link's host {host} is at a {kind} address ({address}), "
                    "which the tap fetches from only for an API at such an address itself"
                )
        return Destination(scheme, host, port, str(addresses[0]) if addresses else host)


def host_header(destination: Destination) -> str:
    """The Host header for a destination reached at its checked address."""
    default = 443 if destination.scheme == "https" else 80
    host = f"[{destination.host}]" if ":" in destination.host else destination.host
    return host if destination.port == default else f"{host}:{destination.port}"


def request_target(link: str) -> str:
    """The path and query of ``link``, as the request line carries them."""
    parts = urlsplit(link)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
