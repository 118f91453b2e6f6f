"""JavaScript/zod value semantics for the pydantic protocol mirror.

The zod schemas in `worker/engine/protocol.ts` are the source of truth, and
zod judges values the way JavaScript sees JSON. Pydantic's defaults differ in
ways that matter for a shared contract:

- pydantic (lax) turns "5" into 5 and `true` into 1; zod rejects both.
- JSON `3.0` is the number 3 in JavaScript, so zod's `.int()` accepts it;
  pydantic strict mode would reject the float.
- Python's `json` accepts `NaN`/`Infinity` and unbounded integers; JavaScript
  numbers are finite doubles and `.int()` means a *safe* integer.
- `optional()` in zod means "absent", never `null`.
- Python's `re` lets `\\d` match non-ASCII digits and `$` match before a final
  newline; JavaScript does neither.
- `z.url()` accepts whatever WHATWG `URL.canParse` accepts (any scheme).

String lengths need no help: zod 4.6 counts code points, as `len()` does.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1
_MAX_DOUBLE = 1.7976931348623157e308


def js_string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected string, received {_js_type(value)}")
    return value


def js_boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected boolean, received {_js_type(value)}")
    return value


def js_number(value: Any) -> float | int:
    """A finite JSON number (what `z.number()` accepts)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected number, received {_js_type(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    if isinstance(value, int) and abs(value) > _MAX_DOUBLE:
        # JSON.parse would turn this into Infinity, which zod rejects.
        raise ValueError("expected a finite number")
    return value


def js_int(value: Any) -> int:
    """What `z.number().int()` accepts: an integral, safe JavaScript number."""
    number = js_number(value)
    if isinstance(number, float):
        if not number.is_integer():
            raise ValueError("expected int, received number")
        number = int(number)
    if abs(number) > MAX_SAFE_INTEGER:
        raise ValueError("expected a safe integer")
    return number


def not_null(value: Any) -> Any:
    """zod `.optional()` allows a missing key but never an explicit null."""
    if value is None:
        raise ValueError("expected a value, received null")
    return value


# What JavaScript's String.prototype.trim() removes (WhiteSpace and LineTerminator).
_JS_WHITESPACE = re.compile("[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+")


def not_blank(value: str) -> str:
    """Mirror of `.refine((t) => t.trim().length > 0)`."""
    if _JS_WHITESPACE.fullmatch(value):
        raise ValueError("must not be blank")
    return value


def js_regex(pattern: str, message: str) -> Callable[[str], str]:
    """A string check with JavaScript regex semantics (ASCII classes, strict `$`)."""
    compiled = re.compile(pattern, re.ASCII)

    def check(value: str) -> str:
        if compiled.fullmatch(value) is None:
            raise ValueError(message)
        return value

    return check


# zod's `z.iso.datetime({ offset: true })`, ported from zod/v4/core/regexes.js:
# an RFC 3339 instant with seconds, optional fraction, and `Z` or `±HH:MM`.
_DATE = (
    r"(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29"
    r"|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    r"|(?:02)-(?:0[1-9]|1\d|2[0-8])))"
)
_TIME = r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?"
_OFFSET = r"(?:Z|([+-](?:[01]\d|2[0-3]):[0-5]\d))"
iso_datetime_with_offset = js_regex(f"{_DATE}T(?:{_TIME}{_OFFSET})", "Invalid ISO datetime")


def js_url(value: str) -> str:
    """Mirror of `z.url()`: trim, then accept what WHATWG `URL.canParse` accepts.

    Like zod, the accepted value is returned trimmed with ASCII tab/newline removed.
    The WHATWG parser is approximated here (scheme, special-scheme hosts, ports,
    IPv4/IPv6 literals, forbidden host code points); the shared fixtures pin the
    cases both languages must agree on.
    """
    trimmed = value.strip()
    if not whatwg_can_parse(trimmed):
        raise ValueError("Invalid URL")
    return re.sub(r"[\t\n\r]", "", trimmed)


_SPECIAL_SCHEMES = {"ftp", "file", "http", "https", "ws", "wss"}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*", re.ASCII)
_FORBIDDEN_HOST = set("\x00\t\n\r #/:<>?@[\\]^|")
_FORBIDDEN_DOMAIN = _FORBIDDEN_HOST | {chr(c) for c in range(0x20)} | {"%", "\x7f"}


_HTTP_PREFIX = re.compile(r"https?://", re.IGNORECASE)


def js_http_url(value: str) -> str:
    """Mirror of `z.url({ protocol: /^https?$/ })`: zod then also demands a literal
    `http://` or `https://` prefix (so `http:example.com` is refused) before parsing."""
    if not _HTTP_PREFIX.match(value.strip()):
        raise ValueError("must be an http(s) URL")
    return js_url(value)


_WS_PREFIX = re.compile(r"wss?://", re.IGNORECASE)


def js_ws_url(value: str) -> str:
    """Mirror of `z.url({ protocol: /^wss?$/ })`: a literal `ws://` or `wss://` prefix, then a URL."""
    if not _WS_PREFIX.match(value.strip()):
        raise ValueError("must be a ws(s) URL")
    return js_url(value)


def whatwg_can_parse(raw: str) -> bool:
    text = raw.strip("".join(chr(c) for c in range(0x21)))
    text = re.sub(r"[\t\n\r]", "", text)
    scheme_match = _SCHEME.match(text)
    if scheme_match is None or text[scheme_match.end() : scheme_match.end() + 1] != ":":
        return False  # no scheme and no base URL to resolve against
    scheme = scheme_match.group(0).lower()
    rest = text[scheme_match.end() + 1 :]
    if scheme == "file":
        return True  # file URLs tolerate empty and odd hosts; the engine never receives them
    if scheme in _SPECIAL_SCHEMES:
        return _special_authority_ok(rest.lstrip("/\\"))
    if rest.startswith("//"):
        return _opaque_authority_ok(rest[2:])
    return True  # opaque path (e.g. mailto:) always parses


def _split_authority(rest: str, terminators: str) -> str:
    end = len(rest)
    for i, ch in enumerate(rest):
        if ch in terminators:
            end = i
            break
    return rest[:end]


def _split_host_port(authority: str) -> tuple[str, str] | None:
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
        if authority == "":
            return None
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            return None
        host, after = authority[: close + 1], authority[close + 1 :]
        if after and not after.startswith(":"):
            return None
        return host, after[1:]
    if ":" in authority:
        host, port = authority.split(":", 1)
        return host, port
    return authority, ""


def _port_ok(port: str) -> bool:
    return port == "" or (port.isascii() and port.isdigit() and int(port) <= 65535)


def _special_authority_ok(rest: str) -> bool:
    parts = _split_host_port(_split_authority(rest, "/\\?#"))
    if parts is None:
        return False
    host, port = parts
    if host == "" or not _port_ok(port):
        return False
    if host.startswith("["):
        return _ipv6_ok(host[1:-1])
    try:
        from urllib.parse import unquote

        domain = unquote(host, errors="strict").lower()
    except UnicodeDecodeError:
        return False
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return False
    if domain == "" or any(ch in _FORBIDDEN_DOMAIN for ch in domain):
        return False
    return _ipv4_ok_if_numeric(domain)


def _opaque_authority_ok(rest: str) -> bool:
    parts = _split_host_port(_split_authority(rest, "/?#"))
    if parts is None:
        return False
    host, port = parts
    if not _port_ok(port):
        return False
    if host.startswith("["):
        return _ipv6_ok(host[1:-1])
    return not any(ch in _FORBIDDEN_HOST for ch in host)


def _ipv6_ok(literal: str) -> bool:
    try:
        ipaddress.IPv6Address(literal)
    except ValueError:
        return False
    return True


def _ipv4_number(label: str) -> int | None:
    try:
        if label[:2].lower() == "0x":
            return int(label[2:] or "0", 16)
        if len(label) > 1 and label.startswith("0"):
            return int(label[1:], 8)
        return int(label, 10) if label.isdigit() else None
    except ValueError:
        return None


def _ipv4_ok_if_numeric(domain: str) -> bool:
    """WHATWG treats a host whose last label is numeric as IPv4, and fails if it is not one."""
    labels = domain.split(".")
    if labels and labels[-1] == "" and len(labels) > 1:
        labels = labels[:-1]
    last = labels[-1]
    if not (last.isdigit() or (last[:2].lower() == "0x" and all(c in "0123456789abcdefABCDEF" for c in last[2:]))):
        return True
    if len(labels) > 4:
        return False
    numbers = [_ipv4_number(label) for label in labels]
    if any(n is None for n in numbers):
        return False
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]):
        return False
    return bool(values[-1] < 256 ** (5 - len(values)))


def _js_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
