"""The URL-origin policy: which model server a request may name, canonicalised as the functions
canonicalise origins, and the one URL the job calls there; and how many bytes of an answer it keeps.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

import idna

from fields import int_in
from messages import is_control

CHAT_PATH = "/v1/chat/completions"

# The model server the request names. Only http(s); an origin's port is always explicit, so
# "https://h" and "https://h:443" are one origin, as the functions canonicalise them.
DEFAULT_PORTS = {"http": 80, "https": 443}
ANY_ORIGIN = "*"
DEFAULT_MAX_ANSWER_BYTES = 65536


@dataclass(frozen=True)
class Policy:
    """What the functions allow this job: None as allowed_origins means any origin (no policy,
    or ["*"]); an empty tuple, none."""
    allowed_origins: tuple[str, ...] | None
    max_answer_bytes: int


@dataclass(frozen=True)
class ModelServer:
    origin: str  # canonical scheme://host:port: the only origin the job calls and sends the key to
    chat_url: str


def parse_policy(value: Any, problems: list[str]) -> Policy:
    """The request's policy. Absent (older functions, a manual run): no origin re-check beyond
    vllm_url's own origin, and the default answer cap."""
    if value is None:
        return Policy(None, DEFAULT_MAX_ANSWER_BYTES)
    if not isinstance(value, dict):
        problems.append("policy is not an object")
        return Policy((), DEFAULT_MAX_ANSWER_BYTES)
    return Policy(
        allowed_origins=_allowed_origins(value.get("allowed_origins"), problems),
        max_answer_bytes=int_in(value, "max_answer_bytes", DEFAULT_MAX_ANSWER_BYTES, 1, None,
                                 problems, "policy."),
    )


def _allowed_origins(value: Any, problems: list[str]) -> tuple[str, ...] | None:
    # An empty list allows nothing (the functions' allowlist is empty); a malformed one allows
    # nothing either, and its problem makes the request unusable anyway.
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(o, str) for o in value):
        problems.append("policy.allowed_origins is not a list of origins")
        return ()
    if ANY_ORIGIN in value:
        if value != [ANY_ORIGIN]:
            problems.append('policy.allowed_origins mixes "*" with origins')
            return ()
        return None
    for index, origin in enumerate(value):
        # Entries are compared as written, so one the functions did not canonicalise could never
        # match: say so rather than refuse every vllm_url in silence.
        if _canonical_or_empty(origin) != origin:
            problems.append(f"policy.allowed_origins[{index}] is not a canonical "
                            "scheme://host:port origin")
    return tuple(value)


def model_server(url: str, policy: Policy, problems: list[str]) -> ModelServer | None:
    try:
        target = parse_vllm_url(url)
    except ValueError as err:
        problems.append(f"vllm_url {err}")
        return None
    problem = origin_problem(target.origin, policy.allowed_origins, "the allowed origins")
    if problem:
        problems.append(problem)
        return None
    return target


def origin_problem(origin: str, allowed: tuple[str, ...] | None, which: str) -> str:
    """Why a canonical origin is not allowed by a list (None: "*"), or "": the list names it, or
    the list is "*" and its host is no special address (special_host)."""
    if allowed is None:
        if special_host(split_origin(origin)[1]):
            return (f"vllm_url {origin} is a link-local or cloud metadata address, which \"*\" in "
                    f"{which} does not reach")
        return ""
    if origin not in allowed:
        return f"vllm_url {origin} is not in {which}"
    return ""


# The special hosts "*" does not reach, as the functions' (shared/deliberation/allowlist.go): the
# cloud metadata services by name and address, and link-local addresses, also behind the NAT64
# prefix. contract/special_hosts.json holds the cases both sides' tests read.
_SPECIAL_NAMES = frozenset({"metadata.google.internal", "metadata"})
_SPECIAL_ADDRESSES = frozenset({
    ipaddress.ip_address("169.254.169.254"),  # AWS, Azure, GCP, OCI, ... (link-local anyway)
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def special_host(host: str) -> bool:
    """Whether a canonical host (canonical_host's form, an IPv6 one in brackets) is link-local
    (unicast or multicast: Go's netip IsLinkLocalUnicast and IsLinkLocalMulticast) or a cloud
    metadata service."""
    if host in _SPECIAL_NAMES:
        return True
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address in _NAT64:
        address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SPECIAL_ADDRESSES:
        return True
    if isinstance(address, ipaddress.IPv4Address):
        return address in _V4_LINK_LOCAL or address in _V4_LINK_LOCAL_MULTICAST
    first = int(address) >> 112
    return first & 0xFFC0 == 0xFE80 or first & 0xFF0F == 0xFF02


_V4_LINK_LOCAL = ipaddress.IPv4Network("169.254.0.0/16")
_V4_LINK_LOCAL_MULTICAST = ipaddress.IPv4Network("224.0.0.0/24")


def parse_origin_list(value: Any, what: str) -> tuple[str, ...] | None:
    """A list of allowed origins as a setting gives it (a list, or a comma-separated string):
    ["*"] alone is None (any origin but the special hosts); every other entry scheme://host[:port],
    kept canonical. Empty or absent allows none. ValueError names the entry by position."""
    if value is None or value == "":
        return ()
    entries = value.split(",") if isinstance(value, str) else value
    if not isinstance(entries, (list, tuple)) or not all(isinstance(e, str) for e in entries):
        raise ValueError(f"{what} must be a list of origins")
    entries = [e.strip() for e in entries]
    if entries == [ANY_ORIGIN]:
        return None
    origins: list[str] = []
    for index, entry in enumerate(entries):
        if entry == ANY_ORIGIN:
            raise ValueError(f'{what}: "*" must be the only entry')
        try:
            origin = canonical_origin(entry)
        except ValueError as err:
            raise ValueError(f"{what}[{index}] {err}") from None
        if urllib.parse.urlsplit(entry).path not in ("", "/") or "?" in entry or "#" in entry:
            raise ValueError(f"{what}[{index}] must be only scheme://host[:port]")
        origins.append(origin)
    return tuple(origins)


def parse_vllm_url(url: str) -> ModelServer:
    """vllm_url as scheme://host[:port][/base], and the one URL the job calls with it. The call
    is built from the canonical origin, so what the policy checked is what is connected to."""
    if "?" in url or "#" in url:
        raise ValueError("has a query or fragment")
    scheme, host, port = split_origin(url)
    base = urllib.parse.urlsplit(url).path.rstrip("/")
    # Non-ASCII in the path would fail in http.client; existing %XX escapes stay as they are.
    base = urllib.parse.quote(base, safe="/%!$&'()*+,;=:@-._~")
    netloc = host if port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return ModelServer(origin=f"{scheme}://{host}:{port}",
                       chat_url=f"{scheme}://{netloc}{base}{CHAT_PATH}")


def split_origin(url: str) -> tuple[str, str, int]:
    """Scheme, canonical host and port of an http(s) URL (its path and query are ignored);
    ValueError saying what is wrong otherwise."""
    if any(ch.isspace() or is_control(ch) for ch in url):
        raise ValueError("contains spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # a bracketed host that is no IPv6 address
        raise ValueError("has an invalid host") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError("is not an http(s) URL")
    if "@" in parts.netloc:
        raise ValueError("holds user information")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if port == 0:
        raise ValueError("has an invalid port")
    return parts.scheme, canonical_host(parts.hostname or ""), port or DEFAULT_PORTS[parts.scheme]


def canonical_host(host: str) -> str:
    """The host as the functions write allowed origins (shared/deliberation's canonicalHost, the
    cases in contract/origins.json): IDNA A-labels as a resolver looks the name up (UTS #46,
    nontransitional, STD3 rules), lowercase, without the trailing dot of a fully qualified name;
    a name whose last label is a number only as a dotted quad (resolvers read 2852039166 or
    0xa9fea9fe as 169.254.169.254); an IPv6 literal compressed (RFC 5952, as Go's netip writes
    it: [0:0::1] is [::1]) in brackets, never an IPv4-mapped one."""
    if ":" in host:  # an IPv6 literal: urlsplit removed its brackets
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("has an invalid host") from None
        # A zone names an interface of one machine, no server; a mapped address is an IPv4 one.
        if address.scope_id or address.ipv4_mapped is not None:
            raise ValueError("has an invalid host")
        return f"[{address.compressed}]"
    name = host.removesuffix(".")
    if not name:
        raise ValueError("has no host")
    try:
        ascii_host = idna.encode(name, uts46=True, transitional=False, std3_rules=True)
    except (idna.IDNAError, UnicodeError):  # what IDNA refuses: bad labels, joiners, bidi
        raise ValueError("has an invalid host") from None
    labels = ascii_host.decode("ascii").lower().split(".")
    # The mapping may still yield an empty label (a trailing ideographic full stop).
    if len(".".join(labels)) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise ValueError("has an invalid host")
    ascii_name = ".".join(labels)
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            if str(ipaddress.IPv4Address(ascii_name)) == ascii_name:
                return ascii_name
        except ValueError:
            pass
        raise ValueError("has an invalid host")
    return ascii_name


_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


def canonical_origin(url: str) -> str:
    scheme, host, port = split_origin(url)
    return f"{scheme}://{host}:{port}"


def _canonical_or_empty(url: str) -> str:
    try:
        return canonical_origin(url)
    except ValueError:
        return ""
