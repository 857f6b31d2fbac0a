"""Stream catalogs shipped with the connectors (YAML)."""
