"""A DAG the DLQ notifier tests run with `dag.test()`: every failed try must become one DLQ entry.

`flaky` fails on its first two tries and then succeeds (its retry callback is listed twice, as a
callback that runs twice would be); `broken` fails every try; `leaky` reads the connection
`notifier_secret` and fails with its password in both the error and a rendered template field.
Entries go to the directory DLQ_TEST_DIR.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseHook, BaseOperator, Context, dag

from airflow_provider_integrations.notifiers.dlq import DeadLetterNotifier, default_task_args


class FailingOperator(BaseOperator):
    """Fails on tries up to `fail_tries`, naming its input; with `leak_secret`, names a password too."""

    template_fields: Sequence[str] = ("manifest_uri", "stream", "credential")

    def __init__(
        self,
        *,
        manifest_uri: str,
        stream: str,
        fail_tries: int,
        credential: str | None = None,
        leak_secret: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.manifest_uri = manifest_uri
        self.stream = stream
        self.fail_tries = fail_tries
        self.credential = credential
        self.leak_secret = leak_secret

    def execute(self, context: Context) -> str:
        try_number = context["ti"].try_number
        if try_number <= self.fail_tries:
            leaked = ""
            if self.leak_secret:
                leaked = f" (login failed for password={BaseHook.get_connection('notifier_secret').password})"
            raise RuntimeError(f"could not load {self.manifest_uri} on try {try_number}{leaked}")
        return self.manifest_uri


ARGS = default_task_args(os.environ.get("DLQ_TEST_DIR"), retries=2, retry_delay=timedelta(0))


@dag(
    dag_id="dlq_notifier_test",
    schedule=timedelta(days=1),
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    default_args=ARGS,
)
def dlq_notifier_test() -> None:
    notifier = ARGS["on_retry_callback"]
    assert isinstance(notifier, DeadLetterNotifier)
    FailingOperator(
        task_id="flaky",
        manifest_uri="s3://raw/salesforce/Account/{{ ds_nodash }}/manifest.json",
        stream="Account",
        fail_tries=2,
        on_retry_callback=[notifier, notifier],
    )
    FailingOperator(
        task_id="broken",
        manifest_uri="s3://raw/stripe/customers/{{ ds_nodash }}/manifest.json",
        stream="customers",
        fail_tries=99,
    )
    FailingOperator(
        task_id="leaky",
        manifest_uri="s3://raw/netsuite/customer/{{ ds_nodash }}/manifest.json",
        stream="customer",
        credential="{{ conn.notifier_secret.password }}",
        fail_tries=99,
        leak_secret=True,
        retries=0,
    )


DAG = dlq_notifier_test()

if __name__ == "__main__":
    run = DAG.test(logical_date=datetime(2025, 3, 4, tzinfo=UTC))
    states = {ti.task_id: f"{ti.state}:{ti.try_number}" for ti in run.get_task_instances()}
    print("RUN", run.run_id, run.state, states, flush=True)
    sys.exit(0 if run.state == "success" else 1)
