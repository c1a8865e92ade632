"""The layer's format checks (aep.validation, through aep.formats) and the emulator's
(aep_emulator.conformance, standing in for AEP) agree on every value of a corpus of generated and
hand-picked strings per format: a value the connector would send is one the emulator accepts, and a value
it dead-letters is one the emulator would drop. Both are reached through their public entry points: a
compiled schema and a SchemaCheck."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from typing import Any

import pytest

from aep.record_rules import RecordRefused
from aep.validation import compile_schema
from aep_emulator.conformance import SchemaCheck

FORMATS = ("uri", "uri-reference", "email")


def _schema(fmt: str) -> dict[str, Any]:
    return {"properties": {"value": {"type": "string", "format": fmt}}}


class Both:
    """One format's two checkers; each answers accepted (True) or refused (False)."""

    def __init__(self, fmt: str) -> None:
        self.layer = compile_schema(_schema(fmt))
        self.emulator = SchemaCheck(_schema(fmt), "streaming")

    def layer_accepts(self, value: str) -> bool:
        try:
            self.layer({"value": value})
        except RecordRefused:
            return False
        return True

    def emulator_accepts(self, value: str) -> bool:
        return not self.emulator.violations({"value": value})


# hand-picked: (value, accepted by RFC 3986 as a URI, as a URI reference)
URIS: list[tuple[str, bool, bool]] = [
    ("https://example.com/a/b?c=d#e", True, True),
    ("a:%zz", False, False),  # a percent-encoding is two hex digits
    ("%zz", False, False),
    ("a#b#c", False, False),  # one "#" at most
    ("https://x.org/ä", False, False),  # an IRI, not a URI
    ("ä", False, False),
    ("", False, True),  # the empty reference
    ("a:b", True, True),
    ("1a:b", False, False),  # neither a scheme nor a first segment without ":"
    ("./1a:b", False, True),
    ("//host:8080/p", False, True),
    ("http://[::1]:80/", True, True),
    ("http://[2001:db8::7]/c=GB?objectClass?one", True, True),
    ("http://[::ffff:192.0.2.1]/", True, True),
    ("http://[::ffff:01.2.3.4]/", False, False),  # no leading zero in a dec-octet
    ("http://[1:2:3:4:5:6:7:8:9]/", False, False),
    ("http://[12345::]/", False, False),
    ("http://[::1%25eth0]/", False, False),  # zone ids are RFC 6874, not RFC 3986
    ("http://[v7.a:b]/", True, True),
    ("http://[V7.a:b]/", True, True),  # ABNF strings are case-insensitive
    ("http://[v7.]/", False, False),
    ("http://a[b]/", False, False),
    ("http://h:8x/", False, False),
    ("http://h:/", True, True),
    ("http://user:pa%20ss@h/", True, True),
    ("http://u@v@h/", False, False),
    ("http://x\n", False, False),
    ("http://x/\t", False, False),
    ("http://x/a b", False, False),
    ("http://x/%41%4a%4A", True, True),
    ("http://x/%4", False, False),
    ("mailto:a@b.c", True, True),
    ("urn:isbn:0451450523", True, True),
    ("tel:+1-816-555-1212", True, True),
    ("file:///etc/hosts", True, True),
    ("a+b.c-d:x", True, True),
    ("+a:x", False, False),
    ("?q", False, True),
    ("#f", False, True),
    ("#f?/:@", False, True),
    ("/a/b", False, True),
    ("a/b:c", False, True),
    ("<a>", False, False),
    ("a\\b", False, False),
    ("a|b", False, False),
    ("a{b}", False, False),
    ("a^b", False, False),
    ("a`b", False, False),
    ('a"b', False, False),
    ("https://x.org/" + "a" * 10_000, True, True),
    ("https://x.org/" + "%2F" * 3_000 + "%", False, False),
    ("a" * 10_000 + ":", True, True),
    ("/" * 10_000 + "ä", False, False),
]

# hand-picked: (value, accepted as an e-mail address under RFC 5321's Mailbox, as aep.formats reads it)
EMAILS: list[tuple[str, bool]] = [
    ("someone@example.com", True),
    ("a@b.c", True),  # a one-letter top-level label is a label
    ("a@b.c1", True),  # labels may hold digits (RFC 1123 2.1)
    ("a@-b.com", False),  # a label starts with a letter or digit
    ("a@b-.com", False),
    ("a@b..com", False),
    ("a@.b.com", False),
    ("a@b.com.", False),
    ("a@localhost", False),  # not fully qualified
    ("a@[192.0.2.1]", False),  # address literals: not accepted
    ("a@[IPv6:2001:db8::1]", False),
    ("first.last+tag@example.co.uk", True),
    ("!#$%&'*+-/=?^_`{|}~@example.com", True),
    (".a@example.com", False),
    ("a.@example.com", False),
    ("a..b@example.com", False),
    ('"a b"@example.com', True),
    ('"a\\"b"@example.com', True),
    ('"a"b"@example.com', False),
    ('"a@b"@example.com', True),
    ('""@example.com', True),
    ('"a".b@example.com', False),
    ("a b@example.com", False),
    ("ä@example.com", False),  # internationalised addresses are idn-email
    ("a@exämple.com", False),
    ("a@b@example.com", False),
    ("@example.com", False),
    ("a@", False),
    ("", False),
    ("a(comment)@example.com", False),
    ("a@example.com\n", False),
    ("x" * 64 + "@example.com", True),
    ("x" * 65 + "@example.com", False),
    ("a@" + "b" * 63 + ".com", True),
    ("a@" + "b" * 64 + ".com", False),
    ("ab@" + ".".join(["b" * 62] * 4), True),  # 254 characters
    ("abc@" + ".".join(["b" * 62] * 4), False),  # 255: over 254
    ("a@" + "b." * 5_000 + "com", False),
]

# generated
URI_PIECES = [
    "a", "Z", "0", "9", "-", ".", "_", "~", "!", "$", "&", "'", "(", ")", "*", "+", ",", ";", "=", ":", "@",
    "/", "//", "?", "#", "%", "%2", "%2F", "%zz", "%C3%A4", "[", "]", "[::1]", "[v1.x]", "[fe80::1%25x]",
    "http:", "mailto:", "1a:", "host", "80", "ä", "é", "€", " ", "\n", "\t", "\x00", "\x7f", '"', "<", ">",
    "\\", "^", "`", "{", "}", "|", "127.0.0.1", "[::ffff:1.2.3.4]", "[1::2::3]", "[:::]",
]  # fmt: skip
LOCAL_PIECES = [
    "a", "Z", "0", ".", "..", "-", "+", "_", "!", "#", "~", "'", '"', '\\"', " ", "ä", "(", ")", ",", ":",
    "[", "]", "@", "\\", "x" * 30,
]  # fmt: skip
DOMAIN_PIECES = [
    "example", "com", "b", "c1", "1", "-", "-b", "b-", "xn--nxasmq6b", ".", "..", "ä", "_", "[", "]",
    "192.0.2.1", "IPv6:", "::1", "b" * 63, "b" * 64, " ",
]  # fmt: skip


def _generated_uris(rng: random.Random) -> Iterator[str]:
    for _ in range(500):
        yield "".join(rng.choice(URI_PIECES) for _ in range(rng.randint(1, 8)))
    for host in _ipv6_hosts(rng, 200):
        yield f"http://[{host}]/"


def _ipv6_hosts(rng: random.Random, count: int) -> Iterator[str]:
    """Strings shaped like IPv6 addresses: real ones in every spelling, and ones with a flaw."""
    for _ in range(count):
        address = ipaddress.IPv6Address(rng.getrandbits(128) >> rng.choice([0, 16, 64, 100, 128]))
        spelling = rng.choice(
            [address.compressed, address.exploded, f"::ffff:{rng.randrange(256)}.1.2.{rng.randrange(256)}"]
        )
        if rng.random() < 0.5:
            yield spelling
            continue
        groups = spelling.split(":")
        at = rng.randrange(len(groups))
        groups[at] = rng.choice(["12345", "g1", "", "01.2.3.4", "1.2.3.4", "256.1.1.1", "::", "0:0"])
        yield ":".join(groups)


def _generated_emails(rng: random.Random) -> Iterator[str]:
    for _ in range(500):
        local = "".join(rng.choice(LOCAL_PIECES) for _ in range(rng.randint(0, 4)))
        if rng.random() < 0.2:
            local = f'"{local}"'
        domain = "".join(rng.choice(DOMAIN_PIECES) for _ in range(rng.randint(0, 5)))
        if rng.random() < 0.1:
            domain = f"[{domain}]"
        yield f"{local}@{domain}" if rng.random() < 0.95 else local + domain


def _mutations(rng: random.Random, seeds: list[str], count: int) -> Iterator[str]:
    """Valid values with one character inserted, deleted or replaced."""
    alphabet = "aZ0-._~!$&'()*+,;=:@/?#%[]\" \\ä\n"
    for _ in range(count):
        value = rng.choice(seeds)
        at = rng.randint(0, len(value))
        kind = rng.randrange(3)
        if kind == 0:
            yield value[:at] + rng.choice(alphabet) + value[at:]
        elif kind == 1:
            yield value[:at] + value[at + 1 :]
        else:
            yield value[:at] + rng.choice(alphabet) + value[at + 1 :]


def corpus(fmt: str) -> list[str]:
    rng = random.Random(f"formats-{fmt}")  # fixed: the same corpus every run
    if fmt == "email":
        picked = [value for value, _ in EMAILS]
        valid = [value for value, ok in EMAILS if ok and len(value) < 100]
        values = [*picked, *_generated_emails(rng), *_mutations(rng, valid, 300)]
    else:
        picked = [value for value, *_ in URIS]
        valid = [value for value, uri, _ in URIS if uri and len(value) < 100]
        values = [*picked, *_generated_uris(rng), *_mutations(rng, valid, 300)]
    return list(dict.fromkeys(values))


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_layer_and_the_emulator_agree_on_every_value(fmt):
    # Given both checkers of one format and several hundred values, valid and invalid
    both = Both(fmt)
    values = corpus(fmt)

    # When each checks every value
    verdicts = {value: (both.layer_accepts(value), both.emulator_accepts(value)) for value in values}

    # Then they agree on each, and the corpus holds plenty of both kinds
    disagreements = {value: pair for value, pair in verdicts.items() if pair[0] != pair[1]}
    assert disagreements == {}
    accepted = sum(layer for layer, _ in verdicts.values())
    assert len(values) > 700
    assert accepted > 100
    assert len(values) - accepted > 300


@pytest.mark.parametrize(("value", "uri", "reference"), URIS, ids=[repr(v[0])[:40] for v in URIS])
def test_both_read_uris_as_rfc_3986_does(value, uri, reference):
    # Given a value whose verdict RFC 3986's grammar decides, then both checkers give it, for both formats
    assert (Both("uri").layer_accepts(value), Both("uri").emulator_accepts(value)) == (uri, uri)
    found = Both("uri-reference")
    assert (found.layer_accepts(value), found.emulator_accepts(value)) == (reference, reference)


@pytest.mark.parametrize(("value", "accepted"), EMAILS, ids=[repr(v[0])[:40] for v in EMAILS])
def test_both_read_emails_as_the_chosen_rule_does(value, accepted):
    both = Both("email")
    assert (both.layer_accepts(value), both.emulator_accepts(value)) == (accepted, accepted)


def test_ipv6_hosts_are_read_as_the_standard_library_reads_them():
    # Given bracketed hosts that look like IPv6 addresses (no zone id: RFC 3986 has none)
    both = Both("uri")
    hosts = list(dict.fromkeys(_ipv6_hosts(random.Random("ipv6"), 400)))

    # When each is read by the layer, the emulator and the standard library
    verdicts = {}
    for host in hosts:
        try:
            ipaddress.IPv6Address(host)
            expected = True
        except ValueError:
            expected = False
        value = f"http://[{host}]/"
        verdicts[host] = (expected, both.layer_accepts(value), both.emulator_accepts(value))

    # Then all three agree, on a set holding valid and invalid addresses
    assert {host: v for host, v in verdicts.items() if len(set(v)) > 1} == {}
    assert 50 < sum(v[0] for v in verdicts.values()) < len(hosts) - 50
