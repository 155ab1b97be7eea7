"""The assistant's tool-use loop over the Bedrock Converse API, kept in our code (not a managed
agent) so that it is the same on AWS and locally, bounded, and testable.

The model sees the question and the tools' specifications; while it asks for tools, each is run
and its result sent back; its final text is the answer. The loop stops at `max_tool_calls` or
when `time_budget_s` is spent: the answer is then marked incomplete and says why, with whatever
the tools had found. Every tool result may name its `source` (the SQL that ran, the documents
used); the reply lists them, so an answer's numbers can be traced to what computed them.

The budget bounds the model's calls and the tools alike: each Converse call is made by a client
bounded by the time left (`ModelFor`: seconds -> client, one attempt, no retries beyond the
budget), and none is started with less than `min_model_call_s` left; the deadline is checked
before every tool call, and each tool gets the seconds left (a query still running then is
stopped), so neither the last call nor a query outlives API Gateway's 29 s.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

SYSTEM_PROMPT = (
    "You answer questions about a customer engagement platform's latest published run. Use the tools for every "
    "number: never state a number no tool returned, and say where each came from (the query or the document). "
    "If the tools cannot answer, say so and say what you can answer instead. Never reveal personal data."
)


def system_prompt(tools: list["Tool"]) -> str:
    """The instructions, then what each tool's data holds and the rules its input lives under."""
    return "\n\n".join([SYSTEM_PROMPT, *(tool.instructions for tool in tools if tool.instructions)])


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict  # JSON Schema of the tool's input
    run: Callable[[dict, float], dict]  # (input, seconds left) -> a JSON-serialisable result; may carry "source"
    instructions: str = ""  # for the system prompt: the data the tool reads and the rules of its input

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
    min_model_call_s: float = 3.0  # with less left, no model call is started
    min_tool_call_s: float = 1.0  # with less left, no tool call is started


# Seconds left -> a bedrock-runtime client (anything with `converse`) whose call ends by then.
ModelFor = Callable[[float], Any]
# What Bedrock answers while the account has no access to the model (Anthropic models need a
# one-time use-case form and a Marketplace subscription on first use).
NO_MODEL_ACCESS = ("AccessDeniedException", "ResourceNotFoundException")


class ModelAccessDenied(RuntimeError):
    """The account may not use the model yet: the message says what to do."""


def ask(model_for: ModelFor, *, model_id: str, question: str, tools: list[Tool], limits: Limits = Limits(),
        clock: Callable[[], float] = time.monotonic) -> Reply:
    """Run the loop for one question."""
    deadline = clock() + limits.time_budget_s
    by_name = {tool.name: tool for tool in tools}
    messages = [{"role": "user", "content": [{"text": question}]}]
    reply = Reply(question)
    while True:
        left = deadline - clock()
        if left < limits.min_model_call_s:
            return _stopped(reply, "", f"stopped at the {limits.time_budget_s:g} s time budget")
        try:
            response = _converse(model_for(left), model_id, messages, tools, limits)
        except (ReadTimeoutError, ConnectTimeoutError):
            return _stopped(reply, "", f"the model did not answer within the {limits.time_budget_s:g} s time budget")
        message = response["output"]["message"]
        messages.append(message)
        uses = [block["toolUse"] for block in message["content"] if "toolUse" in block]
        text = "".join(block.get("text", "") for block in message["content"]).strip()
        if response.get("stopReason") != "tool_use" or not uses:
            reply.answer = text
            return reply
        if len(reply.tool_calls) + len(uses) > limits.max_tool_calls:
            return _stopped(reply, text, f"stopped after {len(reply.tool_calls)} tool calls")
        results = []
        for use in uses:
            left = deadline - clock()
            if left < limits.min_tool_call_s:
                return _stopped(reply, text, f"stopped at the {limits.time_budget_s:g} s time budget")
            results.append(_run_tool(by_name, use, reply, left))
        messages.append({"role": "user", "content": results})


def _converse(model, model_id: str, messages: list[dict], tools: list[Tool], limits: Limits) -> dict:
    try:
        return model.converse(modelId=model_id, system=[{"text": system_prompt(tools)}], messages=messages,
                              toolConfig={"tools": [tool.spec() for tool in tools]},
                              inferenceConfig={"maxTokens": limits.max_tokens, "temperature": 0})
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in NO_MODEL_ACCESS:
            raise ModelAccessDenied(
                f"This account cannot use the assistant's model {model_id} yet "
                f"({error.response['Error'].get('Message', '')}). Enable it once per account: Amazon Bedrock "
                "console -> Model access (for Anthropic models, submit the use-case form; the first call "
                "subscribes the account in AWS Marketplace, which needs an administrator's rights, not this "
                "function's). README: Deploy to AWS, account prerequisites.") from error
        raise


def _run_tool(by_name: dict[str, Tool], use: dict, reply: Reply, seconds_left: float) -> dict:
    tool = by_name.get(use["name"])
    try:
        if tool is None:
            raise ToolRefused(f"no tool named {use['name']!r}")
        output, status = tool.run(use.get("input") or {}, seconds_left), "success"
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
