"""TOPdesk streams, one module per area (``exports.py`` holds the CSV-export streams)."""
