"""Airflow hooks: an Airflow connection turned into a connector, plus connection forms and tests."""
