"""A local certificate authority and a server certificate for the emulator's HTTPS (made by trustme)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsFiles:
    ca_bundle: Path
    cert: Path
    key: Path


def ensure_certificates(directory: Path) -> TlsFiles:
    """Create the CA and a certificate for 127.0.0.1 / localhost once; reuse them afterwards."""
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    if all(p.exists() for p in (files.ca_bundle, files.cert, files.key)):
        return files
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="airflow-provider-integrations sandbox")
    server = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(files.ca_bundle))
    server.cert_chain_pems[0].write_to_path(str(files.cert))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(files.cert), append=True)
    server.private_key_pem.write_to_path(str(files.key))
    files.key.chmod(0o600)
    return files
