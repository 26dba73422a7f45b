"""meltano.yml declares each plugin's settings as the plugin itself does.

Meltano passes only the settings meltano.yml declares (and validates kinds and hides `sensitive` ones by them), so a
setting missing there cannot be configured the Meltano way, a wrong kind is coerced or refused, and a secret declared
plain is printed by `meltano config list`. The plugins' config schemas are the one source; this test keeps the copy
in meltano.yml in step with them.
"""

from __future__ import annotations

import copy
import typing as t
from pathlib import Path

import pytest
import yaml
from singer_sdk.plugin_base import PluginBase

from map_topdesk_intercom.mapper import TopdeskIntercomMapper
from tap_topdesk.tap import TapTopdesk
from target_intercom.target import TargetIntercom

ROOT = Path(__file__).resolve().parent.parent
PLUGINS: dict[str, type[PluginBase]] = {
    "tap-topdesk": TapTopdesk,
    "target-intercom": TargetIntercom,
    "map-topdesk-intercom": TopdeskIntercomMapper,
}
# Meltano setting kind -> (JSON schema type, format) of the plugin's property
KINDS = {
    "string": ("string", None),
    "integer": ("integer", None),
    "decimal": ("number", None),
    "boolean": ("boolean", None),
    "object": ("object", None),
    "array": ("array", None),
    "date_iso8601": ("string", "date-time"),
}


def declared() -> dict[str, dict[str, t.Any]]:
    """meltano.yml's plugin entries by name (extractors, loaders, mappers)."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    return {p["name"]: p for kind in project["plugins"].values() for p in kind if p["name"] in PLUGINS}


def schema_of(plugin: type[PluginBase]) -> dict[str, t.Any]:
    """The plugin's full config schema: its own settings plus the SDK's built-in ones for its capabilities."""
    schema = copy.deepcopy(plugin.config_jsonschema)
    plugin.append_builtin_config(schema)
    return schema


def own_settings(plugin: type[PluginBase]) -> set[str]:
    """The settings the plugin itself declares: its schema without the SDK's built-in ones (which singer-sdk also
    appends to the class's own schema once a plugin has been instantiated in this process)."""
    builtin: dict[str, t.Any] = {"type": "object", "properties": {}}
    plugin.append_builtin_config(builtin)
    return set(plugin.config_jsonschema["properties"]) - set(builtin["properties"])


def kind_of(prop: dict[str, t.Any]) -> tuple[str, str | None]:
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else [x for x in types if x != "null"]
    assert len(types) == 1, f"one JSON type per setting, got {prop.get('type')}"
    return types[0], prop.get("format")


def test_every_plugin_is_declared() -> None:
    assert set(declared()) == set(PLUGINS)


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_settings_match_the_plugin_config_schema(name: str) -> None:
    plugin, entry = PLUGINS[name], declared()[name]
    own = sorted(own_settings(plugin))
    full = schema_of(plugin)["properties"]
    settings = {s["name"]: s for s in entry.get("settings", [])}
    problems = [f"{s}: in the plugin's config schema, not in meltano.yml" for s in own if s not in settings]
    for setting_name, setting in settings.items():
        prop = full.get(setting_name)
        if prop is None:
            problems.append(f"{setting_name}: in meltano.yml, not a setting of {plugin.__name__}")
            continue
        want = KINDS[setting.get("kind", "string")]
        if kind_of(prop) != want:
            problems.append(f"{setting_name}: meltano.yml kind {setting.get('kind')}, the plugin's {kind_of(prop)}")
        if bool(setting.get("sensitive")) != bool(prop.get("secret")):
            problems.append(f"{setting_name}: sensitive {setting.get('sensitive')} vs secret {prop.get('secret')}")
        value = setting.get("value")
        if value is not None and "default" in prop and "${" not in str(value) and value != prop["default"]:
            problems.append(f"{setting_name}: meltano.yml value {value!r}, the plugin's default {prop['default']!r}")
    assert problems == [], f"{name} (meltano.yml vs {plugin.__name__}.config_jsonschema):\n" + "\n".join(problems)


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_declared_capabilities_are_the_plugin_own(name: str) -> None:
    plugin, entry = PLUGINS[name], declared()[name]
    assert set(entry.get("capabilities", [])) <= {str(c) for c in plugin.capabilities}
