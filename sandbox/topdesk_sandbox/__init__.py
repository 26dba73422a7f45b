"""A local TOPdesk: a deterministic dataset generator and a REST server faithful to TOPdesk's API."""
