"""``map-topdesk-intercom``: a Singer mapper (singer-sdk InlineMapper) applying a map file to tap-topdesk's streams."""

from __future__ import annotations

import typing as t

import click
import singer_sdk.singerlib as singer
import singer_sdk.typing as th
from singer_sdk.helpers.capabilities import PluginCapabilities
from singer_sdk.mapper_base import InlineMapper

from map_topdesk_intercom.engine import FLAGGED, Engine
from map_topdesk_intercom.mapfile import DEFAULT_MAP, MapInvalid, catalog_from_file, load_map, output_schema


class MapError(click.ClickException):
    """Exit non-zero with every problem of the map, before any record is read."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"the map has {len(problems)} problem(s):\n" + "\n".join(problems))


class TopdeskIntercomMapper(InlineMapper):
    """Turns TOPdesk records into Intercom-shaped records (one stream per Intercom entity kind) plus ``flagged``."""

    name = "map-topdesk-intercom"
    #: the map replaces the SDK's stream maps and flattening, which this mapper does not apply
    capabilities = [PluginCapabilities.ABOUT, PluginCapabilities.STRUCTURED_LOGGING]

    config_jsonschema = th.PropertiesList(
        th.Property("map_file", th.StringType, description=f"the map (YAML); default: the packaged {DEFAULT_MAP.name}"),
        th.Property(
            "catalog",
            th.StringType,
            description="a Singer catalog (tap-topdesk --discover) to check the map against; default: "
            "tap-topdesk's packaged schemas when installed",
        ),
    ).to_dict()

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        catalog_path = self.config.get("catalog")
        try:
            catalog = catalog_from_file(catalog_path) if catalog_path else True
            self.spec = load_map(self.config.get("map_file"), catalog)
        except MapInvalid as exc:
            raise MapError(exc.problems) from None
        except (OSError, ValueError, KeyError) as exc:
            raise MapError([f"{catalog_path}:0: cannot read the catalog: {exc}"]) from None
        self.engine = Engine(self.spec)
        for remark in self.spec.notes:
            self.logger.info("Map note: %s", remark)
        self._schemas_sent: set[str] = set()
        self._ignored: set[str] = set()
        self._definitions_sent = False

    # ------------------------------------------------------------------ helpers

    def _schema(self, stream: str) -> t.Iterator[singer.Message]:
        if stream not in self._schemas_sent:
            self._schemas_sent.add(stream)
            yield singer.SchemaMessage(stream=stream, schema=output_schema(stream), key_properties=["source_key"])

    def _definitions(self) -> t.Iterator[singer.Message]:
        """What the target must provision, once, before any mapped record."""
        if self._definitions_sent:
            return
        self._definitions_sent = True
        definitions = (
            ("ticket_types", self.spec.active(self.spec.ticket_types)),
            ("attribute_definitions", self.spec.active(self.spec.attributes)),
            ("custom_object_types", self.spec.active(self.spec.custom_object_types)),
        )
        for stream, items in definitions:
            if items:
                yield from self._schema(stream)
                for item in items:
                    yield singer.RecordMessage(stream=stream, record=item.record())

    def _ignore(self, stream: str) -> None:
        if stream not in self._ignored:
            self._ignored.add(stream)
            self.logger.info("Stream '%s' is not mapped by %s: its records are ignored", stream, self.spec.path)

    # ------------------------------------------------------------------ Singer messages

    def map_schema_message(self, message_dict: dict) -> t.Iterable[singer.Message]:
        stream = message_dict["stream"]
        if not self.engine.maps(stream):
            self._ignore(stream)
            return
        yield from self._definitions()
        strategies = self.spec.strategies
        for spec in self.engine.outputs_for(stream):
            if all(c.holds({}, strategies) for c in spec.when if c.strategy):  # outputs of other strategies: none
                yield from self._schema(spec.output)
        yield from self._schema(FLAGGED)

    def map_record_message(self, message_dict: dict) -> t.Iterable[singer.Message]:
        stream = message_dict["stream"]
        if not self.engine.maps(stream):
            self._ignore(stream)
            return
        yield from self._definitions()
        for out_stream, record in self.engine.apply(stream, message_dict["record"]):
            yield from self._schema(out_stream)
            message = singer.RecordMessage.from_dict(message_dict)  # keeps time_extracted as a datetime
            message.stream = out_stream
            message.record = record
            yield message

    def map_state_message(self, message_dict: dict) -> t.Iterable[singer.Message]:
        # bookmarks keep the tap's stream names; passed through unchanged and in order
        return [singer.StateMessage(value=message_dict["value"])]

    def map_activate_version_message(self, message_dict: dict) -> t.Iterable[singer.Message]:
        return []  # versions belong to TOPdesk streams; the Intercom-shaped streams are upserted by source key


if __name__ == "__main__":
    TopdeskIntercomMapper.cli()
