"""Human approval: pause a workflow until a person answers, or give up after a deadline.

An expense claim above the auto-approval limit is sent to a manager. The workflow
creates a callback, hands its id to the notification step, and suspends: no Lambda runs
while the manager thinks it over. The manager's tool (or the AWS CLI) answers with
``SendDurableExecutionCallbackSuccess`` and a JSON body such as
``{"approved": true, "reviewer": "ana"}``. If nobody answers within three days the
callback times out and the claim is escalated.

Run it locally; nobody answers, so the three days pass at once on the virtual clock and
the claim is escalated (add ``--serve`` to answer it from another shell instead)::

    aiodurable run examples.human_approval:handler --clock virtual \\
        --input '{"claim_id": "c-1", "employee": "sam", "amount": 1200}'
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import msgspec

from aiodurable import CallbackTimeoutError, DurableContext, StepContext, durable_execution

AUTO_APPROVE_LIMIT = 100.0
APPROVAL_TIMEOUT = timedelta(days=3)


class ExpenseClaim(msgspec.Struct):
    claim_id: str
    employee: str
    amount: float


class Decision(msgspec.Struct):
    """What the approver sends back as the callback result."""

    approved: bool
    reviewer: str
    comment: str = ""


class Outcome(msgspec.Struct):
    claim_id: str
    status: Literal["auto-approved", "approved", "rejected", "escalated"]
    reviewer: str | None = None


async def notify_approver(claim: ExpenseClaim, callback_id: str) -> None:
    """Stand-in for an email or chat message carrying the callback id."""
    StepContext.current().logger.info(
        "approval requested", claim_id=claim.claim_id, callback_id=callback_id
    )


async def record(outcome: Outcome) -> Outcome:
    """Stand-in for writing the outcome to the expenses database."""
    return outcome


@durable_execution
async def handler(claim: ExpenseClaim, ctx: DurableContext) -> Outcome:
    if claim.amount <= AUTO_APPROVE_LIMIT:
        return await ctx.step(record, Outcome(claim.claim_id, "auto-approved"), name="record")

    async def submit(callback_id: str) -> None:
        await notify_approver(claim, callback_id)

    try:
        decision = await ctx.wait_for_callback(
            submit, name="manager-approval", timeout=APPROVAL_TIMEOUT, result_type=Decision
        )
    except CallbackTimeoutError:
        outcome = Outcome(claim.claim_id, "escalated")
    else:
        status: Literal["approved", "rejected"] = "approved" if decision.approved else "rejected"
        outcome = Outcome(claim.claim_id, status, decision.reviewer)
    return await ctx.step(record, outcome, name="record")
