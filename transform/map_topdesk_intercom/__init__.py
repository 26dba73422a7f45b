"""The TOPdesk -> Intercom map as data, applied by a Singer mapper (singer-sdk InlineMapper)."""
