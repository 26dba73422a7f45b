"""topdesk2intercom: the steps of a TOPdesk -> Intercom migration that Meltano does not run (audit, map, provision,
plan, sample, verify, rollback, handoff), over the same plugins and settings."""
