"""The assistant's tool-use loop over the Bedrock Converse API, kept in our code (not a managed
agent) so that it is the same on AWS and locally, bounded, and testable.

The model sees the question and the tools' specifications; while it asks for tools, each is run
and its result sent back; its final text is the answer. The loop stops at `max_tool_calls` or
when `time_budget_s` is spent: the answer is then marked incomplete and says why, with whatever
the tools had found. Every tool result may name its `source` (the SQL that ran, the documents
used); the reply lists them, so an answer's numbers can be traced to what computed them.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SYSTEM_PROMPT = (
    "You answer questions about a customer engagement platform's latest published run. Use the tools for every "
    "number: never state a number no tool returned, and say where each came from (the query or the document). "
    "If the tools cannot answer, say so and say what you can answer instead. Never reveal personal data."
)


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict  # JSON Schema of the tool's input
    run: Callable[[dict], dict]  # input -> a JSON-serialisable result; may carry "source"

    def spec(self) -> dict:
        return {"toolSpec": {"name": self.name, "description": self.description,
                             "inputSchema": {"json": self.input_schema}}}


class ToolRefused(ValueError):
    """A tool input the tool will not run (unsafe SQL, an unknown feature): the model is told why."""


@dataclass
class Reply:
    question: str
    answer: str = ""
    tool_calls: list[dict] = field(default_factory=list)  # {"tool", "input", "output"} in call order
    sources: list[str] = field(default_factory=list)
    complete: bool = True

    def as_dict(self) -> dict:
        return {"question": self.question, "answer": self.answer, "tool_calls": self.tool_calls,
                "sources": self.sources, "complete": self.complete}


@dataclass(frozen=True)
class Limits:
    max_tool_calls: int = 8
    time_budget_s: float = 25.0  # under API Gateway's 29 s
    max_tokens: int = 1_500


def ask(bedrock, *, model_id: str, question: str, tools: list[Tool], limits: Limits = Limits(),
        clock: Callable[[], float] = time.monotonic) -> Reply:
    """Run the loop for one question; `bedrock` is a bedrock-runtime client (or anything with converse)."""
    deadline = clock() + limits.time_budget_s
    by_name = {tool.name: tool for tool in tools}
    messages = [{"role": "user", "content": [{"text": question}]}]
    reply = Reply(question)
    while True:
        response = bedrock.converse(
            modelId=model_id, system=[{"text": SYSTEM_PROMPT}], messages=messages,
            toolConfig={"tools": [tool.spec() for tool in tools]},
            inferenceConfig={"maxTokens": limits.max_tokens, "temperature": 0})
        message = response["output"]["message"]
        messages.append(message)
        uses = [block["toolUse"] for block in message["content"] if "toolUse" in block]
        text = "".join(block.get("text", "") for block in message["content"]).strip()
        if response.get("stopReason") != "tool_use" or not uses:
            reply.answer = text
            return reply
        if len(reply.tool_calls) + len(uses) > limits.max_tool_calls or clock() >= deadline:
            return _stopped(reply, text, f"stopped after {len(reply.tool_calls)} tool calls"
                            if clock() < deadline else f"stopped at the {limits.time_budget_s:g} s time budget")
        messages.append({"role": "user", "content": [_run_tool(by_name, use, reply) for use in uses]})


def _run_tool(by_name: dict[str, Tool], use: dict, reply: Reply) -> dict:
    tool = by_name.get(use["name"])
    try:
        if tool is None:
            raise ToolRefused(f"no tool named {use['name']!r}")
        output, status = tool.run(use.get("input") or {}), "success"
    except ToolRefused as refused:
        output, status = {"error": str(refused)}, "error"
    reply.tool_calls.append({"tool": use["name"], "input": use.get("input") or {}, "output": output})
    source = output.get("source")
    for item in source if isinstance(source, list) else [source] if source else []:
        if item not in reply.sources:
            reply.sources.append(item)
    return {"toolResult": {"toolUseId": use["toolUseId"], "status": status,
                           "content": [{"json": json.loads(json.dumps(output, default=str))}]}}


def _stopped(reply: Reply, text: str, why: str) -> Reply:
    found = "; ".join(f"{call['tool']}: {json.dumps(call['output'], default=str)[:300]}" for call in reply.tool_calls)
    reply.answer = (f"Partial answer ({why} before the question was fully answered). "
                    + (f"{text} " if text else "") + (f"What the tools found: {found}" if found else ""))
    reply.complete = False
    return reply
