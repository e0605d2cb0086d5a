"""An agent loop: a model decides, tools act, every turn is a checkpointed step.

Model calls are slow, cost money and are not deterministic, so each one is a step: on
replay the recorded reply is returned (as a typed ``ModelReply``) instead of calling the
model again, and the loop takes the same path it took the first time. Tool calls are
steps as well. The model here is a stub with a fixed plan so that the example runs
offline; swap ``call_model`` for your provider's async client.

Run it locally::

    aiodurable run examples.agent_loop:handler \\
        --input '{"question": "Should I cycle to work in Lisbon today?"}'
"""

from __future__ import annotations

from typing import Literal

import msgspec

from aiodurable import DurableContext, RetryStrategy, durable_execution


class ToolCall(msgspec.Struct):
    tool: Literal["weather", "calendar"]
    argument: str


class Message(msgspec.Struct):
    role: Literal["user", "assistant", "tool"]
    content: str


class ModelReply(msgspec.Struct):
    """Either a final answer or a request to run a tool."""

    answer: str | None = None
    tool_call: ToolCall | None = None


class Task(msgspec.Struct):
    question: str
    max_turns: int = 6


class AgentResult(msgspec.Struct):
    answer: str
    turns: int
    transcript: list[Message]


async def call_model(messages: list[Message]) -> ModelReply:
    """A stubbed model: look up the weather, then the calendar, then answer."""
    seen = {m.content.split(":", 1)[0] for m in messages if m.role == "tool"}
    if "weather" not in seen:
        return ModelReply(tool_call=ToolCall("weather", "Lisbon"))
    if "calendar" not in seen:
        return ModelReply(tool_call=ToolCall("calendar", "today"))
    facts = "; ".join(m.content for m in messages if m.role == "tool")
    return ModelReply(answer=f"Yes, cycle: {facts}.")


async def run_tool(call: ToolCall) -> str:
    """Stand-in tools; real ones would call APIs."""
    if call.tool == "weather":
        return f"weather: 22 C and dry in {call.argument}"
    return f"calendar: first meeting at 10:00 {call.argument}"


#: Model APIs throttle; retry those errors with backoff, fail fast on anything else.
MODEL_RETRY = RetryStrategy(
    max_attempts=5, initial_delay=2, retryable_messages=("rate limit", "overloaded")
)


@durable_execution
async def handler(task: Task, ctx: DurableContext) -> AgentResult:
    messages = [Message("user", task.question)]
    for turn in range(1, task.max_turns + 1):
        reply = await ctx.step(call_model, messages, name=f"model-turn-{turn}", retry=MODEL_RETRY)
        if reply.answer is not None:
            messages.append(Message("assistant", reply.answer))
            return AgentResult(reply.answer, turn, messages)
        if reply.tool_call is None:
            raise ValueError(f"the model returned neither an answer nor a tool call: {reply}")
        ctx.logger.info("tool requested", turn=turn, tool=reply.tool_call.tool)
        observation = await ctx.step(run_tool, reply.tool_call, name=f"tool-{turn}")
        messages.append(Message("tool", observation))
    raise RuntimeError(f"no answer after {task.max_turns} turns")
