"""The cost report: per service and item, fixed a month, per run, and a month at the schedule."""

from dataclasses import dataclass

from cost.inventory import Inventory
from cost.model import Line, Prices, cost_lines
from cost.usage import Usage

RUNS_PER_MONTH = {"weekly": 52 / 12, "daily": 365 / 12, "monthly": 1.0}
SCALES = (100_000, 1_000_000, 10_000_000)


@dataclass(frozen=True)
class Totals:
    fixed_month: float
    per_run: float
    runs_per_month: float

    @property
    def month(self) -> float:
        return self.fixed_month + self.per_run * self.runs_per_month


def totals(lines: list[Line], schedule: str) -> Totals:
    return Totals(sum(line.fixed_month for line in lines), sum(line.per_run for line in lines),
                  RUNS_PER_MONTH[schedule])


def table(lines: list[Line], schedule: str) -> list[str]:
    runs = RUNS_PER_MONTH[schedule]
    rows = [f"| {'service':<20} | {'item':<58} | {'fixed $/month':>13} | {'$/run':>9} | {f'$/month ({schedule})':>17} "
            f"| formula |", f"|{'-' * 22}|{'-' * 60}|{'-' * 15}|{'-' * 11}|{'-' * 19}|---------|"]
    for line in sorted((line for line in lines if not line.per_1000_requests),
                       key=lambda line: -(line.fixed_month + line.per_run * runs)):
        rows.append(f"| {line.service:<20} | {line.item:<58} | {line.fixed_month:>13.2f} | {line.per_run:>9.4f} | "
                    f"{line.fixed_month + line.per_run * runs:>17.2f} | {line.formula} |")
    total = totals(lines, schedule)
    rows.append(f"| {'total':<20} | {'':<58} | {total.fixed_month:>13.2f} | {total.per_run:>9.4f} | "
                f"{total.month:>17.2f} | |")
    return rows


def by_service(lines: list[Line], schedule: str) -> dict[str, float]:
    """A month of each service at the schedule (per-use lines left out)."""
    runs, months = RUNS_PER_MONTH[schedule], {}
    for line in lines:
        if not line.per_1000_requests:
            months[line.service] = months.get(line.service, 0.0) + line.fixed_month + line.per_run * runs
    return months


def by_customers(inventory: Inventory, usage: Usage, prices: Prices, schedule: str) -> list[tuple[int, Totals]]:
    """The totals with the run's usage scaled to each of SCALES customers (the shards and upload files
    the app would have then)."""
    from cost import limits

    app = limits.read_app(inventory, inventory.definition)
    return [(rows, totals(cost_lines(inventory, limits.scaled_usage(usage, app, rows, limits.fewest_files(
        app, usage, rows)), prices), schedule)) for rows in SCALES]


def compared(profiles: dict[str, list[Line]], schedule: str) -> list[str]:
    """Each service's month under each profile, then the totals."""
    names = list(profiles)
    months = {name: by_service(lines, schedule) for name, lines in profiles.items()}
    services = sorted({service for per_service in months.values() for service in per_service})
    rows = ["| service | " + " | ".join(f"{name} $/month" for name in names) + " |",
            "|---|" + "---:|" * len(names)]
    for service in services:
        rows.append(f"| {service} | " + " | ".join(f"{months[name].get(service, 0.0):.2f}" for name in names) + " |")
    sums = [totals(lines, schedule) for lines in profiles.values()]
    rows.append("| **fixed** | " + " | ".join(f"{t.fixed_month:.2f}" for t in sums) + " |")
    rows.append("| **a run** | " + " | ".join(f"{t.per_run:.4f}" for t in sums) + " |")
    rows.append(f"| **a month ({schedule})** | " + " | ".join(f"**{t.month:.2f}**" for t in sums) + " |")
    return rows


def per_use(lines: list[Line]) -> list[str]:
    return [f"- {line.item}: ${line.per_1000_requests:.4f} per 1,000 ({line.formula})"
            for line in lines if line.per_1000_requests]
