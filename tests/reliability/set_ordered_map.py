"""A workflow that maps over a set: its item order depends on the process's hash seed.

That is the misuse the replay trace catches: restarted under another ``PYTHONHASHSEED``,
the map's items come in another order, and the results stored by index would be paired
with the wrong items.
"""

from __future__ import annotations

from aiodurable import DurableContext, durable_execution

WORDS = ("amber", "birch", "cedar", "delta", "ember", "flint")


async def shout(word: str) -> str:
    return word.upper()


@durable_execution
async def pair_up(event: dict[str, str], ctx: DurableContext) -> dict[str, str]:
    words = list(set(WORDS))  # unordered on purpose
    shouted = await ctx.map(
        words, lambda child, word, index: child.step(shout, word, name="shout"), name="shout-all"
    )
    callback = await ctx.create_callback(name="go")
    await callback.result()
    return dict(zip(words, shouted.get_results(), strict=True))
