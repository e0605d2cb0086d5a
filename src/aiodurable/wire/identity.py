"""What names one operation: id, type, sub-type, name and parent.

It sits at the bottom of the layers so that every layer above — the plugin hooks, the
runtime, the operations — hands the identity around whole instead of its five fields.
"""

from __future__ import annotations

from typing import Any

import msgspec

from aiodurable.wire.models import OperationAction, OperationType, OperationUpdate

__all__ = ["OperationIdentity"]


class OperationIdentity(msgspec.Struct, frozen=True):
    """Id, type, sub-type, name and parent: repeated on every update (docs/protocol.md §2.2)."""

    id: str
    type: OperationType
    sub_type: str | None
    name: str | None
    parent_id: str | None

    def update(self, action: OperationAction, **fields: Any) -> OperationUpdate:
        return OperationUpdate(
            id=self.id,
            type=self.type,
            action=action,
            parent_id=self.parent_id,
            name=self.name,
            sub_type=self.sub_type,
            **fields,
        )

    @property
    def label(self) -> str:
        """The name a message shows: the operation's name, or its id when it has none."""
        return self.name or self.id

    def __str__(self) -> str:
        kind = (self.sub_type or self.type.value).lower()
        named = f" {self.name!r}" if self.name else ""
        return f"{kind}{named} (operation {self.id})"
