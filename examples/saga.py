"""Saga: reserve stock, charge the card, ship; when a step fails for good, undo what
succeeded, newest first.

``ctx.saga`` runs each forward step once (a checkpointed step) and, once it succeeded,
registers its compensation with the step's result. When a later step fails
(``StepError`` after its retries) the compensations run as steps, in reverse order, and
the error is raised again; the cart is unlocked whatever the outcome. None of it runs
because the workflow suspends (the shipment waits for the warehouse to open), and a
crash halfway through the rollback resumes it without refunding twice.

Run it locally (``fail_at`` makes one step fail, to see the rollback)::

    aiodurable run examples.saga:handler --clock virtual \\
        --input '{"order_id": "o-1", "amount": 40, "fail_at": "ship"}'

(``--clock virtual`` skips the eight-hour wait for the warehouse.)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import msgspec

from aiodurable import DurableContext, RetryStrategy, StepError, durable_execution

Stage = Literal["reserve", "charge", "ship"]


class Order(msgspec.Struct):
    order_id: str
    amount: int
    #: Make this stage fail (for the demo and the tests).
    fail_at: Stage | None = None


class Reservation(msgspec.Struct):
    order_id: str
    hold_id: str


class Payment(msgspec.Struct):
    order_id: str
    charge_id: str
    amount: int


class Outcome(msgspec.Struct):
    order_id: str
    status: Literal["shipped", "rolled-back"]
    tracking: str | None = None
    error: str | None = None


class StageFailedError(Exception):
    """A stand-in provider refused the request for good (not retried)."""


#: Retry connection trouble; a refusal fails the saga at once.
ONLY_CONNECTION_ERRORS = RetryStrategy(max_attempts=3, retryable_errors=(ConnectionError,))


def _refuse_if(order: Order, stage: Stage) -> None:
    if order.fail_at == stage:
        raise StageFailedError(f"{stage} refused for {order.order_id}")


async def reserve_stock(order: Order) -> Reservation:
    _refuse_if(order, "reserve")
    return Reservation(order.order_id, f"HOLD-{order.order_id}")


async def charge_card(order: Order) -> Payment:
    _refuse_if(order, "charge")
    return Payment(order.order_id, f"CH-{order.order_id}", order.amount)


async def ship(order: Order) -> str:
    _refuse_if(order, "ship")
    return f"TRACK-{order.order_id}"


# Compensations: each receives the result of the step it undoes. They must be
# idempotent: an at-least-once step may run again if the Lambda crashes before its
# result is saved (use StepSemantics.AT_MOST_ONCE_PER_RETRY where that is worse).
async def release_stock(reservation: Reservation) -> str:
    return f"released {reservation.hold_id}"


async def refund(payment: Payment) -> str:
    return f"refunded {payment.amount} on {payment.charge_id}"


async def unlock_cart(order_id: str) -> str:
    return f"cart of {order_id} unlocked"


@durable_execution
async def handler(order: Order, ctx: DurableContext) -> Outcome:
    try:
        async with ctx.saga("checkout") as saga:
            saga.finally_(unlock_cart, order.order_id)  # a cleanup: runs on any outcome
            await saga.step(
                reserve_stock, order, compensate=release_stock, retry=ONLY_CONNECTION_ERRORS
            )
            await saga.step(charge_card, order, compensate=refund, retry=ONLY_CONNECTION_ERRORS)
            await ctx.wait(timedelta(hours=8), name="warehouse-opens")  # suspends: no undo
            tracking = await saga.step(ship, order, retry=ONLY_CONNECTION_ERRORS)
    except StepError as error:
        # The compensations have run (had one failed, TerminalScopeError would say so).
        return Outcome(order.order_id, "rolled-back", error=error.message)
    return Outcome(order.order_id, "shipped", tracking)
