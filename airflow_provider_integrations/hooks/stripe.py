"""Stripe hook: connection type `integrations_stripe`."""

from __future__ import annotations

from typing import Any

from airflow_provider_integrations.connection_types import STRIPE
from airflow_provider_integrations.connectors.base import Stream
from airflow_provider_integrations.connectors.stripe import StripeConnector, StripeSettings
from airflow_provider_integrations.hooks.base import ConnectorHook, given


class StripeHook(ConnectorHook):
    """Reach a Stripe account with a secret or restricted key; the API version is pinned per connection."""

    connection_type = STRIPE
    catalog = "stripe.yaml"

    def build(
        self, conn: Any, extra: dict[str, Any], streams: dict[str, Stream], http: dict[str, Any]
    ) -> StripeConnector:
        settings = StripeSettings(
            api_key=conn.password or "",
            ca_bundle=extra.get("ca_bundle"),
            **given(api_base=extra.get("api_base") or conn.host, stripe_version=extra.get("stripe_version")),
        )
        return StripeConnector.connect(settings, streams, **http)
