"""Saga: book a trip in three services and undo what succeeded when one step fails.

Each booking is a step, so it is done once and its confirmation is checkpointed. When a
booking fails for good (``StepError`` after its retries), the workflow runs the
compensations of the bookings made so far, newest first. Compensations are steps too:
a crash halfway through the rollback resumes it without cancelling anything twice.

Run it locally (``fail_at`` makes one booking fail, to see the rollback)::

    aiodurable run examples.saga:handler \\
        --input '{"trip_id": "t-1", "fail_at": "car"}'
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Literal

import msgspec

from aiodurable import DurableContext, RetryStrategy, StepError, durable_execution

Service = Literal["flight", "hotel", "car"]


class Trip(msgspec.Struct):
    trip_id: str
    #: Make this booking fail (for the demo and the tests).
    fail_at: Service | None = None


class Booking(msgspec.Struct):
    service: Service
    confirmation: str


class SagaResult(msgspec.Struct):
    trip_id: str
    status: Literal["booked", "rolled-back"]
    bookings: list[Booking]
    cancelled: list[str] = msgspec.field(default_factory=list)
    error: str | None = None


class SoldOutError(Exception):
    pass


def reserve(service: Service, trip: Trip) -> Callable[[], Coroutine[Any, Any, Booking]]:
    """A step body that books ``service`` (a stand-in for the provider's API)."""

    async def book() -> Booking:
        if trip.fail_at == service:
            raise SoldOutError(f"no {service} available for {trip.trip_id}")
        return Booking(service, f"{service.upper()}-{trip.trip_id}")

    return book


async def cancel(booking: Booking) -> str:
    """Stand-in for the provider's cancellation API. It must be idempotent: an
    at-least-once step may run again if the Lambda crashes before its result is saved."""
    return booking.confirmation


NO_RETRY_WHEN_SOLD_OUT = RetryStrategy(max_attempts=3, retryable_errors=(ConnectionError,))


@durable_execution
async def handler(trip: Trip, ctx: DurableContext) -> SagaResult:
    booked: list[Booking] = []
    services: list[Service] = ["flight", "hotel", "car"]
    try:
        for service in services:
            booking = await ctx.step(
                reserve(service, trip), name=f"book-{service}", retry=NO_RETRY_WHEN_SOLD_OUT
            )
            booked.append(booking)
    except StepError as error:
        cancelled = [
            await ctx.step(cancel, booking, name=f"cancel-{booking.service}")
            for booking in reversed(booked)
        ]
        return SagaResult(trip.trip_id, "rolled-back", booked, cancelled, error.message)
    return SagaResult(trip.trip_id, "booked", booked)
