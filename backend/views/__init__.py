"""Blueprints: one short module per resource."""
