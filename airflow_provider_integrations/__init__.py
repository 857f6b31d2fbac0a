"""Apache Airflow 3 provider for moving data between enterprise SaaS systems and Snowflake."""

__version__ = "0.1.0"
