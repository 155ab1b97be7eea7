"""What-if scenarios: changes to customers' inputs that Inference scores with the run's trained
models (engagement_ml.what_if), and that the assistant's `what_if` tool reports.

A scenario changes one column of the contract for some customers; the models score the changed
rows exactly as they score real ones (the one feature function), so an answer is the models'
estimate of the change — not a correlation. Which customers change is a stable hash of their id.
"""

from dataclasses import dataclass
from enum import StrEnum


class Change(StrEnum):
    SET = "set"  # the column takes `value`
    SCALE = "scale"  # the column is multiplied by `value` (then clipped to the contract's range)
    ADD = "add"  # `value` is added (then clipped)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    description: str
    column: str
    change: Change
    value: float | str
    share_pct: int = 100  # of the customers `only` selects
    only: tuple[str, str] | None = None  # (column, value): the customers it may change


SCENARIOS = (
    Scenario(name="premium_conversion", description="10% of free users convert to premium",
             column="account_type", change=Change.SET, value="premium", share_pct=10, only=("account_type", "free")),
    Scenario(name="notification_click_rate_up_20pct", description="every customer's notification click rate 20% "
             "higher (capped at 1)", column="notification_click_rate", change=Change.SCALE, value=1.2),
    Scenario(name="one_more_content_post_per_week", description="every customer posts one more piece of content "
             "a week", column="content_posts_per_week", change=Change.ADD, value=1),
)
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
