"""``wait_for_callback(serdes=...)`` returns what the serdes decodes, first run and replay."""

from __future__ import annotations

from dataclasses import dataclass

from aiodurable import DurableContext, SerdesContext, durable_execution
from aiodurable.testing import LocalRunner


@dataclass(frozen=True)
class Verdict:
    approved: bool
    by: str


class VerdictSerdes:
    """Answers arrive as ``"yes:ana"`` / ``"no:bo"``."""

    def serialize(self, value: Verdict, context: SerdesContext) -> str | None:
        return f"{'yes' if value.approved else 'no'}:{value.by}"

    def deserialize(self, text: str, context: SerdesContext) -> Verdict:
        word, _, by = text.partition(":")
        return Verdict(approved=word == "yes", by=by)


async def notify(callback_id: str) -> None:
    return None


@durable_execution
async def asks_for_a_verdict(event: object, ctx: DurableContext) -> list[str]:
    verdict = await ctx.wait_for_callback(notify, name="review", serdes=VerdictSerdes())
    seen = [f"{type(verdict).__name__} {verdict!r}"]
    await ctx.wait(1)  # the next invocation replays the callback's recorded result
    return seen


async def test_the_custom_serdes_decoded_value_is_returned_on_first_run_and_replay() -> None:
    async with LocalRunner(asks_for_a_verdict, replay_check=True) as runner:
        run = await runner.start()
        await run.callback_started("review")
        run.complete_callback("review", raw="yes:ana")
        result = await run.wait()

    assert result.status == "SUCCEEDED", result.error
    assert result.result == ["Verdict Verdict(approved=True, by='ana')"]
