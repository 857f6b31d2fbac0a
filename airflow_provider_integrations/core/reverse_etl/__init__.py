"""Reverse ETL without Airflow: push the new and changed rows of a warehouse model into a destination.

`spec` says what a sync sends and how a model row becomes a destination record; `triage` sorts planned
rows into what is sent, what cannot be and what is refused; `plan` reads the change plan (SQL in
`core/sql/sync_state.py`) a page at a time and `state` records outcomes in the sync-state table;
`delivery` sends a batch with per-record results; `destination` is what a sync needs of a connector;
`dead_letter` owns the payload of a sync's DLQ entries; `settings` says where a sync reads and writes
and how a run goes; `run` is the engine, one :class:`SyncRun` per run; `summary` is its tally.
"""
