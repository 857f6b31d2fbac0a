"""Local stand-ins that speak the real wire protocols, for tests, demos and DAG development."""
