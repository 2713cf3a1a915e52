"""Pluggable stores: an abstract interface per store, one module per backend, chosen by URL."""
