"""The private singer-sdk hooks the plugins override still exist, with the signatures they were written against.

singer-sdk is pinned, but its private methods carry no compatibility promise: after an upgrade, an override whose
hook was renamed is silently never called (the tap would write records unconformed, the target would buffer what
it streams today). This test fails loudly instead: each pinned hook must exist on its SDK class with the pinned
signature, each override must take the same parameters, and a new private override must be pinned here first.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

import pytest

PACKAGES = ("tap_topdesk", "target_intercom", "map_topdesk_intercom")
# (SDK class, hook) -> its signature in the pinned singer-sdk (see each package's pyproject.toml)
PINNED: dict[tuple[str, str], str] = {
    ("singer_sdk.streams.rest._HTTPStream", "_request"): (
        "(self, prepared_request: 'requests.PreparedRequest', context: 'Context | None') -> 'requests.Response'"
    ),
    ("singer_sdk.streams.core.Stream", "_write_schema_message"): "(self) -> 'None'",
    ("singer_sdk.streams.core.Stream", "_write_state_message"): "(self) -> 'None'",
    ("singer_sdk.streams.core.Stream", "_generate_record_messages"): (
        "(self, record: 'types.Record') -> 't.Generator[singer.RecordMessage, None, None]'"
    ),
    ("singer_sdk.streams.core.Stream", "_increment_stream_state"): (
        "(self, latest_record: 'types.Record', *, context: 'types.Context | None' = None) -> 'None'"
    ),
    ("singer_sdk.target_base.Target", "_process_schema_message"): "(self, message_dict: 'dict') -> 'None'",
    ("singer_sdk.target_base.Target", "_process_record_message"): "(self, message_dict: 'dict') -> 'None'",
    (
        "singer_sdk.target_base.Target",
        "_drain_all",
    ): "(self, sink_list: 'Iterable[Sink]', parallelism: 'int') -> 'None'",
}


def sdk_class(path: str) -> type:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def overrides() -> Iterator[tuple[type, str, type]]:
    """(our class, attribute, SDK class defining it) for each private SDK attribute our classes redefine."""
    seen: set[type] = set()
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name.endswith("__main__"):
                continue
            for cls in vars(importlib.import_module(info.name)).values():
                if not inspect.isclass(cls) or not cls.__module__.startswith(package) or cls in seen:
                    continue
                seen.add(cls)
                sdk_bases = [b for b in cls.__mro__ if b.__module__.startswith("singer_sdk.")]
                for attr in vars(cls):
                    if not attr.startswith("_") or attr.startswith("__") or attr == "_abc_impl":
                        continue
                    owner = next((b for b in sdk_bases if attr in vars(b)), None)
                    if owner is not None:
                        yield cls, attr, owner


def parameters(func: object) -> list[tuple[str, inspect._ParameterKind]]:
    assert callable(func)
    return [(p.name, p.kind) for p in inspect.signature(func).parameters.values()]


@pytest.mark.parametrize(("owner", "hook"), sorted(PINNED))
def test_pinned_hook_exists_with_its_signature(owner: str, hook: str) -> None:
    cls = sdk_class(owner)
    assert hook in vars(cls), f"singer-sdk's {owner} no longer defines {hook}: our override is never called"
    assert str(inspect.signature(vars(cls)[hook])) == PINNED[(owner, hook)], f"{owner}.{hook} changed its signature"


def test_every_private_override_is_pinned_and_takes_the_hook_parameters() -> None:
    found = list(overrides())
    assert found, "no overrides found: the discovery itself is broken"
    problems = []
    for cls, attr, owner in found:
        where = f"{cls.__module__}.{cls.__qualname__}.{attr}"
        if (f"{owner.__module__}.{owner.__qualname__}", attr) not in PINNED:
            problems.append(f"{where} overrides {owner.__module__}.{owner.__qualname__}.{attr}: pin it in PINNED")
        elif parameters(vars(cls)[attr]) != parameters(vars(owner)[attr]):
            problems.append(f"{where}: parameters differ from the SDK's {inspect.signature(vars(owner)[attr])}")
    assert problems == [], "\n".join(problems)


def test_every_pinned_hook_is_still_overridden() -> None:
    """A pin without an override is a stale word: the hook was dropped from our code, drop it here too."""
    used = {(f"{owner.__module__}.{owner.__qualname__}", attr) for _, attr, owner in overrides()}
    assert set(PINNED) - used == set()
