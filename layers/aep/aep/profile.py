"""Real-Time Customer Profile access (``/data/core/ups/access/entities``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from aep.errors import AepNotFoundError
from aep.http import Transport
from aep.models import ExperienceEvent, ExperienceEventPage, ProfileEntity
from aep.timing import Deadline

UPS_PATH = "/data/core/ups"
PROFILE_SCHEMA = "_xdm.context.profile"
EVENT_SCHEMA = "_xdm.context.experienceevent"


class ProfileApi:
    def __init__(self, transport: Transport, platform_url: str) -> None:
        self._t = transport
        self._base = platform_url.rstrip("/") + UPS_PATH

    def get(
        self,
        entity_id: str,
        namespace: str,
        *,
        fields: Sequence[str] | None = None,
        merge_policy_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> ProfileEntity | None:
        """The merged profile for one identity, or None when AEP knows none (404).

        ``deadline`` bounds the call, retries included. Raises the AepError of the last failure.
        """
        params = {"schema.name": PROFILE_SCHEMA, "entityId": entity_id, "entityIdNS": namespace}
        if fields:
            params["fields"] = ",".join(fields)
        if merge_policy_id:
            params["mergePolicyId"] = merge_policy_id
        try:
            response = self._t.request(
                "GET", f"{self._base}/access/entities", params=params, context="profile", deadline=deadline
            )
        except AepNotFoundError:
            return None
        profiles = _profiles(response.json())
        return next(iter(profiles.values()), None)

    def get_many(
        self,
        identities: Sequence[tuple[str, str]],
        *,
        fields: Sequence[str] | None = None,
        merge_policy_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> dict[str, ProfileEntity]:
        """Profiles for many ``(id, namespace)`` identities (POST), keyed by profile id.

        An identity without a profile may come back as an entry with an empty ``entity``, keyed by the
        id asked for. Raises the AepError of the last failure (``deadline`` bounds the retries).
        """
        body: dict[str, Any] = {
            "schema": {"name": PROFILE_SCHEMA},
            "identities": [{"entityId": value, "entityIdNS": {"code": ns}} for value, ns in identities],
        }
        if fields:
            body["fields"] = list(fields)
        if merge_policy_id:
            body["mergePolicyId"] = merge_policy_id
        response = self._t.request(
            "POST",
            f"{self._base}/access/entities",
            json=body,
            headers={"Content-Type": "application/json"},
            context="profiles",
            deadline=deadline,
        )
        return _profiles(response.json())

    def experience_events(
        self,
        entity_id: str,
        namespace: str,
        *,
        limit: int = 100,
        start_time_ms: int | None = None,
        end_time_ms: int | None = None,
        newest_first: bool = True,
        max_pages: int = 10,
        deadline: Deadline | None = None,
    ) -> Iterator[ExperienceEvent]:
        """Experience events of the profile, following ``_links.next``.

        Adobe has deprecated event retrieval on this endpoint and limits it to Real-Time CDP Ultimate;
        callers should treat it as optional.
        """
        params: dict[str, str] = {
            "schema.name": EVENT_SCHEMA,
            "relatedSchema.name": PROFILE_SCHEMA,
            "relatedEntityId": entity_id,
            "relatedEntityIdNS": namespace,
            "limit": str(limit),
            "orderby": "-timestamp" if newest_first else "+timestamp",
        }
        if start_time_ms is not None:
            params["startTime"] = str(start_time_ms)
        if end_time_ms is not None:
            params["endTime"] = str(end_time_ms)
        url: str | None = f"{self._base}/access/entities"
        query: dict[str, str] | None = params
        for _ in range(max_pages):
            if url is None:
                return
            try:
                response = self._t.request(
                    "GET", url, params=query, context="experience events", deadline=deadline
                )
            except AepNotFoundError:
                return
            page = ExperienceEventPage.model_validate(response.json())
            yield from page.children
            href = page.next_href
            url = f"{self._base}/access/{href.lstrip('/')}" if href else None
            query = None


def _profiles(payload: Any) -> dict[str, ProfileEntity]:
    if not isinstance(payload, dict):
        return {}
    return {
        key: ProfileEntity.model_validate({"entityId": key, **value})
        for key, value in payload.items()
        if isinstance(value, dict)
    }
