"""Pieces both sandboxes share: fault and latency injection, and running a server (CLI or test thread)."""
