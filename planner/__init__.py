"""The local stand-in for the assistant's Bedrock model (locally there is no Bedrock).

`converse(request)` answers a Converse request as the model would in the tool-use loop, but
deterministically: it reads the question, maps it to a parameterised intent (columns resolved
from the data contract by name, allowed value or synonym), asks for the tool that intent needs,
and composes the final text from the tool's result alone — every number in an answer is one a
tool returned. A question it cannot map gets "cannot answer" and the list of what it can.
On AWS the same loop talks to the Bedrock model instead; the README says which is which.
"""

from planner.model import converse

__all__ = ["converse"]
