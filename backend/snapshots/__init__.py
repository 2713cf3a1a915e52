"""Facet snapshots: the engine, the four sources, jobs, and the durable chronology."""
