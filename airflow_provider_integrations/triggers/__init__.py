"""Triggers that wait for long-running work in Airflow's triggerer, so no worker slot is held meanwhile."""
