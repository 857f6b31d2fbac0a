"""Airflow-free connectors: one module per system."""
