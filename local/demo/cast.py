"""Who and what the story is about: the callers, numbers as call centers write them, and the call events
the IVR records. Callers carry labels, never a person's name; their phone numbers are from ranges
reserved for fiction."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers

INTENTS = ["billing", "roaming", "upgrade", "cancel"]
#: Call events of each caller in the call-history file (step 1) and through the queue (step 2).
HISTORY_EACH = 2
CALLS_EACH = 4
#: Where the deployment's call center is (stack.deployment.HOME_REGION): numbers written without a
#: country code are read as from here.
HOME_REGION = "US"


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


def say(text: str) -> None:
    print(text, flush=True)


def national(phone: str) -> str:
    """How a call-center system may record the number: national format, as dialled."""
    return phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.NATIONAL)


def international(phone: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def dialled(phone: str, home: str = HOME_REGION) -> str:
    """As a call center in ``home`` writes it: national when the number is domestic, else international."""
    domestic = phonenumbers.region_code_for_number(phonenumbers.parse(phone)) == home
    return national(phone) if domestic else international(phone)


def call_events(written: str, count: int, tenant: str, *, days_ago: int = 0) -> list[dict[str, Any]]:
    """XDM ExperienceEvents of the setup's call-events schema, without _id (the functions derive a
    deterministic one): the caller's number ``written`` as the call center recorded it in the schema's
    primary identity field (``_{tenant}.phone``), an hour apart, ending ``days_ago`` days ago."""
    now = datetime.now(UTC) - timedelta(days=days_ago)
    events = []
    for n in range(count):
        stamp = (now - timedelta(hours=count - n)).isoformat(timespec="seconds").replace("+00:00", "Z")
        events.append(
            {
                "timestamp": stamp,
                "eventType": "ivr.call",
                f"_{tenant}": {
                    "phone": written,
                    "call": {
                        "direction": "inbound",
                        "durationSeconds": 45 + 30 * n,
                        "intent": INTENTS[(n + len(written)) % len(INTENTS)],
                        "outcome": "resolved",
                    },
                },
            }
        )
    return events


def wait_for(done: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Polls ``done`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True
