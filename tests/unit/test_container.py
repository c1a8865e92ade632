"""aep.container.PerContainer: a function's runtime built once per container, replaceable by tests."""

from __future__ import annotations

import threading

from aep.container import PerContainer


def test_the_value_is_built_once_and_kept_until_replaced():
    holder: PerContainer[object] = PerContainer()
    built: list[object] = []

    def build() -> object:
        built.append(object())
        return built[-1]

    first = holder.get(build)
    assert holder.get(build) is first
    replacement = object()
    holder.set(replacement)
    assert holder.get(build) is replacement
    holder.set(None)
    assert holder.get(build) is built[-1] is not first
    assert len(built) == 2


def test_concurrent_first_uses_build_once():
    holder: PerContainer[int] = PerContainer()
    calls: list[int] = []
    gate = threading.Barrier(8)

    def build() -> int:
        calls.append(1)
        return 42

    def use() -> None:
        gate.wait(5)
        assert holder.get(build) == 42

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)

    assert calls == [1]
