"""The tally of one sync run, for the task log and XCom."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class SyncSummary:
    """What one run did, for the task log and XCom."""

    mode: str
    dry_run: bool = False
    model_rows: int = 0
    planned: int = 0
    unchanged: int = 0
    sent: int = 0
    succeeded: int = 0
    failed_permanently: int = 0
    retried: int = 0
    left_pending: int = 0
    reconciled: int = 0
    would_insert: int = 0
    would_update: int = 0
    would_delete: int = 0
    deleted: int = 0
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        """Count one row refused before sending (in a dry run: one that would be)."""
        self.rejected += 1
        self.rejected_reasons[reason] = self.rejected_reasons.get(reason, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        if self.dry_run:
            return (
                f"dry run ({self.mode}): would insert {self.would_insert}, update {self.would_update}, "
                f"delete {self.would_delete}, reject {self.rejected}{self._reasons()}; "
                f"{self.unchanged} unchanged of {self.model_rows}"
            )
        return (
            f"{self.mode}: planned {self.planned}, sent {self.sent}, succeeded {self.succeeded}, "
            f"failed permanently {self.failed_permanently}, retried {self.retried}, "
            f"left pending {self.left_pending}, unchanged {self.unchanged}, deleted {self.deleted}, "
            f"reconciled without sending {self.reconciled}, rejected {self.rejected}{self._reasons()}"
        )

    def _reasons(self) -> str:
        if not self.rejected_reasons:
            return ""
        return f" ({', '.join(f'{r}: {n}' for r, n in sorted(self.rejected_reasons.items()))})"
