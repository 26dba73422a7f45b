"""A local Intercom: the 2.16 REST endpoints a migration needs, with Intercom's errors and rate limits."""
