"""The Converse exchange: the planner's side of the tool-use loop."""

from planner.intents import CAPABILITIES, plan_for

NO_USAGE = {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}


def converse(request: dict) -> dict:
    """A Converse response to `request` (the bedrock-runtime Converse request body)."""
    messages = request.get("messages", [])
    question = next((block["text"] for message in messages if message["role"] == "user"
                     for block in message["content"] if "text" in block), "")
    results = [block["toolResult"] for message in messages if message["role"] == "user"
               for block in message["content"] if "toolResult" in block]
    tools = {tool["toolSpec"]["name"] for tool in request.get("toolConfig", {}).get("tools", [])}
    plan = plan_for(question)
    if plan is not None and plan.tool is None:
        return _final(plan.compose({}))
    if plan is None or plan.tool not in tools:
        return _final("I cannot answer that with the data and tools I have. I can answer: "
                      + "; ".join(CAPABILITIES) + ".")
    if not results:
        return {"output": {"message": {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "planner-1", "name": plan.tool, "input": plan.input}}]}},
            "stopReason": "tool_use", "usage": NO_USAGE}
    result = results[-1]
    output = result["content"][0].get("json", {})
    if result.get("status") == "error":
        return _final(f"The {plan.tool} tool could not answer: {output.get('error')}")
    return _final(plan.compose(output))


def _final(text: str) -> dict:
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
            "usage": NO_USAGE}
