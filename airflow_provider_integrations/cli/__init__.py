"""The provider's command line: `python -m airflow_provider_integrations catalog discover|diff ...`.

Exit codes: 0 done with nothing to report; 1 done, with something a person should look at (changes
found, streams left out because the user may not read them); 2 an error stopped the command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airflow_provider_integrations.cli import catalog
from airflow_provider_integrations.core.errors import IntegrationError

ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_integrations")
    commands = parser.add_subparsers(dest="command", required=True)
    catalog.add_commands(commands)
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except IntegrationError as error:
        print(f"error: {error}", file=sys.stderr)
        return ERROR
    return code
