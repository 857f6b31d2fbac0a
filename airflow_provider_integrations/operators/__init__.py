"""Airflow operators: thin recipes over the core and the connectors."""
