"""The one rule for an Application Entity title (DICOM PS3.5 Table 6.2-1, VR AE).

An AE title is 1 to 16 characters of the Default Character Repertoire without
control characters or backslash. Leading and trailing spaces are not significant
(PS3.5 6.2), so a title that starts or ends with a space is refused rather than
silently trimmed: it would name a different peer on a strict PACS.

Matching a received calling AE title (:func:`same_ae_title`): the A-ASSOCIATE-RQ
carries it in a fixed 16-byte field padded with spaces, and PS3.8 9.3.2 says its
leading and trailing spaces are non-significant, so ``"MODALITY "`` and
``" MODALITY"`` *are* ``MODALITY`` on the wire and cannot be told apart. Beyond
that edge rule the comparison is exact: case-sensitive, no prefix match, inner
spaces significant (``MODALITY1``, ``modality`` and ``MODAL ITY`` are other peers).

An allow-list entry (:class:`AllowedPeer`) pairs a title with the addresses it
may call from: ``MODALITY@10.0.0.0/8`` or ``PACS@192.168.1.5``; a bare ``MODALITY``
may call only from this machine (loopback addresses).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = ["AllowedPeer", "is_ae_title", "peer_allowed", "same_ae_title",
           "validate_ae_title"]

_AET = re.compile(r"^[\x21-\x5b\x5d-\x7e](?:[\x20-\x5b\x5d-\x7e]{0,14}[\x21-\x5b\x5d-\x7e])?$")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_LOOPBACK: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"),
                                    ipaddress.ip_network("::1/128"))


def is_ae_title(value: str) -> bool:
    """Whether ``value`` is a valid AE title (1-16 printable, no backslash, no edge spaces)."""
    return bool(_AET.match(value))


def validate_ae_title(value: str) -> str:
    """Return ``value`` if it is a valid AE title.

    Raises:
        ValueError: it is not (the message does not quote it).

    """
    if not is_ae_title(value):
        raise ValueError("an AE title is 1-16 printable ASCII characters, no backslash, "
                         "no leading or trailing space")
    return value


def same_ae_title(received: str, allowed: str) -> bool:
    """Whether a received AE title names ``allowed`` (PS3.8 edge-space rule, else exact)."""
    return received.strip(" ") == allowed


@dataclass(frozen=True)
class AllowedPeer:
    """A calling AE title and the networks it may call from.

    Attributes:
        ae_title: the exact title (validated).
        networks: source networks; a bare title gets the loopback networks.

    """

    ae_title: str
    networks: tuple[IPNetwork, ...]

    def __post_init__(self) -> None:
        validate_ae_title(self.ae_title)
        if not self.networks:
            raise ValueError("an allowed peer needs at least one network")

    @classmethod
    def parse(cls, text: str) -> AllowedPeer:
        """Parse ``TITLE`` or ``TITLE@address`` or ``TITLE@network/prefix``.

        The address part is an IP address or network in CIDR form with no host bits
        set (``10.0.0.1/8`` is refused as a likely typo); host names are refused
        (their resolution could change under the listener).

        Raises:
            ValueError: malformed (the message does not quote the value).

        """
        title, sep, where = text.rpartition("@")
        if not sep:
            return cls(validate_ae_title(text), _LOOPBACK)
        try:
            network = ipaddress.ip_network(where.strip(), strict=True)
        except ValueError:
            raise ValueError("an allowed peer is TITLE, TITLE@IP or TITLE@NETWORK/PREFIX "
                             "(IP addresses only, no host bits in a network)") from None
        return cls(validate_ae_title(title), (network,))

    @property
    def loopback_only(self) -> bool:
        """Whether every network of this entry is a loopback network."""
        return all(_is_loopback_network(n) for n in self.networks)

    def admits(self, calling_ae_title: str, address: str) -> bool:
        """Whether a peer calling as ``calling_ae_title`` from ``address`` matches."""
        if not same_ae_title(calling_ae_title, self.ae_title):
            return False
        ip = _ip(address)
        return ip is not None and any(ip in n for n in self.networks)

    def __str__(self) -> str:
        return ",".join(f"{self.ae_title}@{n}" for n in self.networks)


def _is_loopback_network(network: IPNetwork) -> bool:
    if isinstance(network, ipaddress.IPv4Network):
        return network.subnet_of(ipaddress.IPv4Network("127.0.0.0/8"))
    return network == ipaddress.IPv6Network("::1/128")


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def peer_allowed(peers: tuple[AllowedPeer, ...], calling_ae_title: str, address: str) -> bool:
    """Whether any entry of ``peers`` admits the caller (an empty list admits nobody)."""
    return any(p.admits(calling_ae_title, address) for p in peers)
