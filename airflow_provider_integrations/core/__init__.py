"""Airflow-free building blocks: errors, HTTP, pagination, watermarks and the dead-letter queue."""
