"""The Converse tool-use loop: tools run as the model asks, results go back, the loop is bounded."""

import copy

from engagement.assistant import Limits, Tool, ToolRefused, ask


class ScriptedModel:
    """A bedrock-runtime stand-in that answers from a script and records what it was sent."""

    def __init__(self, *turns):
        self.turns, self.requests = list(turns), []

    def converse(self, **request):
        self.requests.append(copy.deepcopy(request))  # the loop keeps appending to its messages
        return self.turns.pop(0)


def tool_use(*calls):
    content = [{"toolUse": {"toolUseId": f"t{i}", "name": name, "input": value}}
               for i, (name, value) in enumerate(calls)]
    return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": "tool_use"}


def final(text):
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn"}


def count_tool():
    def run(value, seconds_left):
        if value.get("table") == "raw":
            raise ToolRefused("raw is not readable")
        return {"rows": [[42]], "source": f"SELECT count(*) FROM {value['table']}"}
    return Tool("count", "Count rows", {"type": "object", "properties": {"table": {"type": "string"}}}, run)


def test_tools_run_as_asked_and_their_results_and_sources_come_back():
    model = ScriptedModel(tool_use(("count", {"table": "final_results"})), final("There are 42 customers."))
    reply = ask(lambda seconds: model, model_id="m", question="How many?", tools=[count_tool()])
    assert reply.answer == "There are 42 customers." and reply.complete
    assert reply.tool_calls == [{"tool": "count", "input": {"table": "final_results"},
                                 "output": {"rows": [[42]], "source": "SELECT count(*) FROM final_results"}}]
    assert reply.sources == ["SELECT count(*) FROM final_results"]
    second = model.requests[1]
    [result] = second["messages"][-1]["content"]
    assert result["toolResult"] == {"toolUseId": "t0", "status": "success",
                                    "content": [{"json": {"rows": [[42]],
                                                          "source": "SELECT count(*) FROM final_results"}}]}
    assert second["toolConfig"]["tools"][0]["toolSpec"]["name"] == "count"
    assert second["inferenceConfig"]["temperature"] == 0


def test_a_refused_input_and_an_unknown_tool_are_reported_to_the_model_as_errors():
    model = ScriptedModel(tool_use(("count", {"table": "raw"}), ("drop", {})), final("I cannot read that."))
    reply = ask(lambda seconds: model, model_id="m", question="q", tools=[count_tool()])
    results = [block["toolResult"] for block in model.requests[1]["messages"][-1]["content"]]
    assert [(r["status"], r["content"][0]["json"]["error"]) for r in results] == [
        ("error", "raw is not readable"), ("error", "no tool named 'drop'")]
    assert reply.answer == "I cannot read that." and reply.sources == []


def test_a_loop_that_does_not_converge_stops_at_the_bound_with_a_partial_answer():
    model = ScriptedModel(*[tool_use(("count", {"table": f"t{i}"})) for i in range(10)])
    reply = ask(lambda seconds: model, model_id="m", question="q", tools=[count_tool()], limits=Limits(max_tool_calls=3))
    assert not reply.complete and len(reply.tool_calls) == 3
    assert reply.answer.startswith("Partial answer (stopped after 3 tool calls") and "42" in reply.answer


def test_the_time_budget_stops_the_loop():
    now = [0.0]

    def clock():
        now[0] += 10
        return now[0]

    model = ScriptedModel(*[tool_use(("count", {"table": "t"})) for _ in range(5)])
    reply = ask(lambda seconds: model, model_id="m", question="q", tools=[count_tool()], limits=Limits(time_budget_s=25), clock=clock)
    assert not reply.complete and "time budget" in reply.answer and len(model.requests) < 5


def test_every_model_call_is_bounded_by_the_time_left_and_none_starts_too_late():
    """A Converse call started at 24 s with boto3's 60 s read timeout would outlive API Gateway's 29 s."""
    now, given = [0.0], []

    def slow_count(value, seconds_left):
        now[0] += 11  # each query takes 11 s
        return {"rows": [[42]]}

    def model_for(seconds):
        given.append((now[0], seconds))
        return model

    model = ScriptedModel(*[tool_use(("count", {"table": "t"})) for _ in range(5)])
    tool = Tool("count", "Count rows", {"type": "object"}, slow_count)
    reply = ask(model_for, model_id="m", question="q", tools=[tool], limits=Limits(time_budget_s=25),
                clock=lambda: now[0])
    assert given == [(0.0, 25.0), (11.0, 14.0), (22.0, 3.0)]  # at 33 s none is started
    assert not reply.complete and "time budget" in reply.answer


def test_a_model_that_times_out_gives_a_partial_answer():
    from botocore.exceptions import ReadTimeoutError

    class Silent:
        def converse(self, **request):
            raise ReadTimeoutError(endpoint_url="https://bedrock-runtime")

    reply = ask(lambda seconds: Silent(), model_id="m", question="q", tools=[count_tool()])
    assert not reply.complete and "did not answer within the 25 s time budget" in reply.answer


def test_a_model_the_account_cannot_use_yet_says_what_to_do():
    from botocore.exceptions import ClientError

    from engagement.assistant import ModelAccessDenied

    class NoAccess:
        def converse(self, **request):
            raise ClientError({"Error": {"Code": "AccessDeniedException",
                                         "Message": "You don't have access to the model with the specified model ID."}},
                              "Converse")

    try:
        ask(lambda seconds: NoAccess(), model_id="us.anthropic.claude-x", question="q", tools=[])
    except ModelAccessDenied as denied:
        assert "us.anthropic.claude-x" in str(denied) and "Model access" in str(denied)
        assert "Deploy to AWS" in str(denied)
    else:
        raise AssertionError("no ModelAccessDenied")


def test_the_deadline_is_checked_before_every_tool_call_and_each_gets_the_seconds_left():
    """Two tool calls in one turn used to run back to back whatever the clock said."""
    now, given = [0.0], []

    def slow(value, seconds_left):
        given.append(seconds_left)
        now[0] += 24.5
        return {"rows": [[1]]}

    model = ScriptedModel(tool_use(("count", {"table": "a"}), ("count", {"table": "b"})))
    reply = ask(lambda seconds: model, model_id="m", question="q", tools=[Tool("count", "c", {"type": "object"}, slow)],
                limits=Limits(time_budget_s=25), clock=lambda: now[0])
    assert given == [25.0] and len(reply.tool_calls) == 1
    assert not reply.complete and "time budget" in reply.answer
