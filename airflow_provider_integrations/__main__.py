"""`python -m airflow_provider_integrations ...`: the provider's command line (see `cli`)."""

from airflow_provider_integrations.cli import main

raise SystemExit(main())
