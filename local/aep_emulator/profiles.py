"""The profile store: records from profile-enabled datasets merge into profiles via an identity graph."""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aep_emulator.config import Dataset
from aep_emulator.records import IDENTITY_MAP, identities, parse_time

Identity = tuple[str, str]  # (namespace code lowercased, id)


#: lastModifiedAt of a profile nothing was ingested into (AEP's "no profile" entries carry it too).
EPOCH = "1970-01-01T00:00:00Z"


def _key(namespace: str, value: str) -> Identity:
    return namespace.lower(), value


@dataclass
class _Event:
    event_id: str
    timestamp_ms: int
    entity: dict[str, Any]
    identity: Identity
    modified: str


@dataclass
class _Fragment:
    entity: dict[str, Any]
    identity: Identity
    dataset_id: str
    order: int
    modified: str = ""


@dataclass
class ProfileStore:
    _parent: dict[Identity, Identity] = field(default_factory=dict)
    _display: dict[Identity, str] = field(default_factory=dict)
    _fragments: list[_Fragment] = field(default_factory=list)
    _events: dict[str, _Event] = field(default_factory=dict)
    _sources: dict[Identity, set[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _order: int = 0

    # -- identity graph (union-find) -----------------------------------------------------------------
    def _find(self, node: Identity) -> Identity:
        self._parent.setdefault(node, node)
        while self._parent[node] != node:
            self._parent[node] = self._parent[self._parent[node]]
            node = self._parent[node]
        return node

    def _union(self, a: Identity, b: Identity) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self._parent[max(ra, rb)] = min(ra, rb)

    def _cluster(self, node: Identity) -> list[Identity]:
        root = self._find(node)
        return sorted(n for n in list(self._parent) if self._find(n) == root)

    # -- writes ---------------------------------------------------------------------------------------
    def ingest(self, record: dict[str, Any], dataset: Dataset) -> None:
        ids = identities(record, dataset)
        if not ids:
            return
        keys = [_key(ns, value) for ns, value, _ in ids]
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        with self._lock:
            for (ns, _, _), key in zip(ids, keys, strict=True):
                self._find(key)
                self._display[key] = ns
                self._sources.setdefault(key, set()).add(dataset.id)
            for other in keys[1:]:
                self._union(keys[0], other)
            if dataset.klass == "profile":
                self._order += 1
                entity = {k: v for k, v in record.items() if k != IDENTITY_MAP}
                self._fragments.append(_Fragment(entity, keys[0], dataset.id, self._order, now))
            else:
                stamp = parse_time(record.get("timestamp"))
                millis = int(stamp.timestamp() * 1000) if stamp else 0
                event_id = str(record.get("_id"))
                self._events[event_id] = _Event(event_id, millis, record, keys[0], now)

    # -- reads ----------------------------------------------------------------------------------------
    def profile_id(self, namespace: str, value: str) -> str | None:
        key = _key(namespace, value)
        with self._lock:
            if key not in self._parent:
                return None
            return _xid(self._find(key))

    def resolve_xid(self, xid: str) -> tuple[str, str] | None:
        """The (namespace, id) of the profile whose XID is ``xid``, or None."""
        with self._lock:
            for node in list(self._parent):
                if self._find(node) == node and _xid(node) == xid:
                    return node
        return None

    def linked(self, namespace: str, value: str) -> int:
        with self._lock:
            key = _key(namespace, value)
            return len(self._cluster(key)) if key in self._parent else 0

    def profile(self, namespace: str, value: str) -> dict[str, Any] | None:
        key = _key(namespace, value)
        with self._lock:
            if key not in self._parent:
                return None
            cluster = self._cluster(key)
            members = set(cluster)
            entity: dict[str, Any] = {}
            for fragment in sorted(self._fragments, key=lambda f: f.order):
                if fragment.identity in members:
                    _deep_merge(entity, fragment.entity)
            identity_map: dict[str, list[dict[str, Any]]] = {}
            for member in cluster:
                identity_map.setdefault(self._display.get(member, member[0]), []).append({"id": member[1]})
            entity[IDENTITY_MAP] = identity_map
            sources = sorted(set().union(*(self._sources.get(m, set()) for m in cluster)))
            xid = _xid(self._find(key))
            # when a fragment or an event of the profile last arrived (ISO 8601 UTC strings sort by time)
            stamps = [f.modified for f in self._fragments if f.identity in members]
            stamps += [e.modified for e in self._events.values() if e.identity in members]
            modified = max(stamps, default=EPOCH)
        return {"xid": xid, "entity": entity, "sources": sources, "identities": cluster, "modified": modified}

    def events(self, namespace: str, value: str) -> list[_Event]:
        key = _key(namespace, value)
        with self._lock:
            if key not in self._parent:
                return []
            members = set(self._cluster(key))
            return [event for event in self._events.values() if event.identity in members]

    def summaries(self) -> list[dict[str, Any]]:
        """Every profile: its XID, identities (namespace code as ingested, id) and event count."""
        with self._lock:
            clusters: dict[Identity, list[Identity]] = {}
            for node in list(self._parent):
                clusters.setdefault(self._find(node), []).append(node)
            events: dict[Identity, int] = {}
            for event in self._events.values():
                root = self._find(event.identity)
                events[root] = events.get(root, 0) + 1
            return [
                {
                    "xid": _xid(root),
                    "identities": [
                        {"namespace": self._display.get(m, m[0]), "id": m[1]} for m in sorted(members)
                    ],
                    "events": events.get(root, 0),
                }
                for root, members in sorted(clusters.items())
            ]

    def counts(self) -> dict[str, int]:
        with self._lock:
            roots = {self._find(node) for node in list(self._parent)}
            return {
                "profiles": len(roots),
                "identities": len(self._parent),
                "events": len(self._events),
                "profile_fragments": len(self._fragments),
            }


#: The XIDs this store mints: 30 characters of URL-safe base64 (Adobe's examples look alike).
XID = re.compile(r"[A-Za-z0-9_-]{30}")


def _xid(root: Identity) -> str:
    digest = hashlib.sha256(f"{root[0]}|{root[1]}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:30]


def _deep_merge(target: dict[str, Any], source: dict[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value


def filter_fields(entity: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Keep only the dotted paths asked for (``fields=person.name,identityMap``)."""
    kept: dict[str, Any] = {}
    for path in fields:
        parts = path.split(".")
        node: Any = entity
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                node = None
                break
            node = node[part]
        if node is None:
            continue
        target = kept
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = node
    return kept
