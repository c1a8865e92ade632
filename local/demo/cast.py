"""Who and what the story is about: the callers, the sample orgs' ids, numbers as call centers write them,
and the call events the IVR records. Callers carry labels, never a person's name; their phone numbers are
from ranges reserved for fiction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers

from aep_emulator.config import DEFAULT_CONFIG

# The default org (sandbox.default.json): its datasets, its streaming inlet and flow.
CALLERS = "65f0c0a1e4b0c1d2e3f40001"
CALL_EVENTS = "65f0c0a1e4b0c1d2e3f40002"
EVENTS_INLET = "9b0c7f3e1d2a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e"
EVENTS_FLOW = "d8a6f005-0000-4000-8000-00000000c411"
INTENTS = ["billing", "roaming", "upgrade", "cancel"]
#: Call events of each caller in the call-history file (step 1) and through the queue (step 2).
HISTORY_EACH = 2
CALLS_EACH = 4
#: Where the deployment's call center is: numbers written without a country code are read as from here.
HOME_REGION = "US"

# Brand B: the second sample org, its registry item, its secrets and its own queue.
BRAND_B = "brand-b"
BRAND_B_CONFIG = DEFAULT_CONFIG.with_name("sandbox.brand-b.json")
BRAND_B_CALLERS = "65f0c0a1e4b0c1d2e3f4b001"
BRAND_B_CALL_EVENTS = "65f0c0a1e4b0c1d2e3f4b002"
BRAND_B_EVENTS_INLET = "968ddf2eeef4269bf21cbde8e097e9770051dec24aee5548895471fd4282a30f"
BRAND_B_EVENTS_FLOW = "d8a6f005-0000-4000-8000-0000000bc411"
BRAND_B_REGION = "GB"  # its call center's country: numbers dialled there are written nationally
BRAND_B_CALLS_EACH = 2


@dataclass(frozen=True)
class Caller:
    """A caller of the story: a phone number from a range reserved for fiction, a label (never a person's
    name; the profile's ``person.name.firstName``, what the IVR greets with), a country, a tier."""

    phone: str
    label: str
    region: str
    tier: str


CALLERS_IN_STORY = [
    Caller("+14155550100", "caller 1", "US", "gold"),
    Caller("+442079460123", "caller 2", "GB", "silver"),
    Caller("+33199001234", "caller 3", "FR", "silver"),
]
BRAND_B_CALLERS_IN_STORY = [
    Caller("+442079460456", "caller B1", "GB", "gold"),
    Caller("+14155550142", "caller B2", "US", "bronze"),
]


def say(text: str) -> None:
    print(text, flush=True)


def national(phone: str) -> str:
    """How a call-center system may record the number: national format, as dialled."""
    return phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.NATIONAL)


def international(phone: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def dialled(phone: str, home: str) -> str:
    """As a call center in ``home`` writes it: national when the number is domestic, else international."""
    domestic = phonenumbers.region_code_for_number(phonenumbers.parse(phone)) == home
    return national(phone) if domestic else international(phone)


def call_events(written: str, count: int, *, days_ago: int = 0) -> list[dict[str, Any]]:
    """Bare XDM ExperienceEvents without _id (the functions derive a deterministic one), the caller's
    number ``written`` as the call center recorded it, an hour apart, ending ``days_ago`` days ago."""
    now = datetime.now(UTC) - timedelta(days=days_ago)
    events = []
    for n in range(count):
        stamp = (now - timedelta(hours=count - n)).isoformat(timespec="seconds").replace("+00:00", "Z")
        events.append(
            {
                "timestamp": stamp,
                "eventType": "ivr.call",
                "identityMap": {"Phone": [{"id": written, "primary": True}]},
                "_acme": {
                    "call": {
                        "direction": "inbound",
                        "durationSeconds": 45 + 30 * n,
                        "intent": INTENTS[(n + len(written)) % len(INTENTS)],
                        "outcome": "resolved",
                    }
                },
            }
        )
    return events
