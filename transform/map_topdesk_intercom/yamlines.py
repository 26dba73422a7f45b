"""YAML loading that remembers line numbers (PyYAML node marks), so every problem can say ``file:line``."""

from __future__ import annotations

import typing as t

import yaml


class LineDict(dict):
    """A mapping from the map file: ``line`` is where it starts, ``key_lines[key]`` where each key is."""

    line: int = 0
    key_lines: dict[t.Any, int]

    def line_of(self, key: t.Any) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A sequence from the map file: ``line`` is where it starts, ``item_lines[i]`` where each item is."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _Loader(yaml.SafeLoader):
    duplicates: list[tuple[int, str]]


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in result:
            loader.duplicates.append((line, f"duplicate key {key!r} (first at line {result.key_lines[key]})"))
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def load_with_lines(text: str) -> tuple[t.Any, list[tuple[int, str]]]:
    """Parse ``text``; returns the document and (line, message) problems such as duplicate keys.

    A YAML syntax error is returned as a single problem (line 0 if YAML gives no position).
    """
    loader = _Loader(text)
    loader.duplicates = []
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        return None, [(line, f"YAML syntax error: {getattr(exc, 'problem', None) or exc}")]
    finally:
        loader.dispose()
    return document, loader.duplicates
