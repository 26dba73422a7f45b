"""Route modules, one per TOPdesk API family."""
