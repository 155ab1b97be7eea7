"""`python -m cost`: what the app costs on AWS, from the synthesized app and the last local run.

    python -m cost [--assembly cdk.out] [--run .localcloud/last-run.json] [--schedule weekly]
    python -m cost --compare cdk.out.lean   the lean profile's synthesis priced beside it
    python -m cost --refresh-prices      rebuild cost/prices/<region>.json (AWS credentials)
    python -m cost --actual              Cost Explorer's last 30 days of the tagged spend, beside it
    python -m cost --rows 10000000       a run of that many customers: shards, each stage's time on AWS,
                                         the limit check (refused, naming the setting, if one breaks), cost

Reads every priced resource of the cloud assembly and the run record, prices them with
cost/prices/<region>.json, and prints per service and item: fixed a month, variable a run, a month
at the schedule — each with its formula — then the per-use prices of the API and the same
reckoning at 100K, 1M and 10M customers.
"""

import argparse
import sys
from pathlib import Path

from botocore.exceptions import NoCredentialsError

from cost import limits
from cost.actual import actual_by_service, side_by_side
from cost.inventory import Inventory, read_inventory, unpriced_types
from cost.model import RULES, Line, Prices, Unpriced, cost_lines, load_prices
from cost.refresh import PRICING_REGION, refresh
from cost.report import by_customers, by_service, compared, per_use, table, totals
from cost.usage import ASSUMPTIONS, RecordError, Usage, read_usage
from deployment.assembly import AssemblyError


DEFAULT_ASSEMBLIES = (Path("cdk.out"), Path("cdk.out.local"))  # the same resources; the local one swaps the image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assembly", type=Path, help="default: cdk.out (make synth), else cdk.out.local (make run)")
    parser.add_argument("--run", type=Path, default=Path(".localcloud/last-run.json"))
    parser.add_argument("--schedule", choices=("weekly", "daily", "monthly"), default="weekly")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--compare", type=Path, metavar="ASSEMBLY",
                        help="another synthesis (make synth-lean: cdk.out.lean) priced beside this one")
    parser.add_argument("--refresh-prices", action="store_true", help="rebuild the price file from the Price List API")
    parser.add_argument("--actual", action="store_true", help="Cost Explorer's last 30 days beside the estimate")
    parser.add_argument("--rows", type=int, help="customers: each stage's time on AWS and its limits (cost.limits)")
    parser.add_argument("--upload-files", type=int, default=1, help="with --rows: the upload's files (default 1)")
    args = parser.parse_args(argv)
    args.assembly = args.assembly or next((a for a in DEFAULT_ASSEMBLIES if (a / "manifest.json").is_file()),
                                          DEFAULT_ASSEMBLIES[0])
    try:
        if args.refresh_prices:
            print("\n".join(refresh(_aws("pricing", PRICING_REGION), args.region)))
        elif args.rows:
            lines, broken = at_scale(args.assembly, args.run, args.region, args.schedule, args.rows, args.upload_files)
            print("\n".join(lines))
            if broken:
                print("\nrefused: " + "\n         ".join(broken), file=sys.stderr)
                return 1
        elif args.actual:
            estimated = by_service(priced(args.assembly, args.run, args.region)[-1], args.schedule)
            print("\n".join(side_by_side(estimated, actual_by_service(_aws("ce", "us-east-1")))))
        else:
            print("\n".join(report(args.assembly, args.run, args.schedule, args.region)))
            if args.compare:
                profiles = {str(a): priced(a, args.run, args.region)[-1] for a in (args.assembly, args.compare)}
                print("\n" + "\n".join(compared(profiles, args.schedule)))
    except (AssemblyError, RecordError, Unpriced, FileNotFoundError, NoCredentialsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _aws(service: str, region: str):
    import boto3

    return boto3.client(service, region_name=region)


def priced(assembly: Path, run: Path, region: str) -> tuple[Inventory, Usage, Prices, list[Line]]:
    """The assembly's inventory (every type priced, or AssemblyError), the run's usage, the prices, the lines."""
    inventory = read_inventory(assembly)
    unpriced = unpriced_types(inventory, set(RULES))
    if unpriced:
        raise AssemblyError(f"{assembly} declares types with no price rule: {', '.join(unpriced)}")
    usage, prices = read_usage(run), load_prices(region)
    return inventory, usage, prices, cost_lines(inventory, usage, prices)


def at_scale(assembly: Path, run: Path, region: str, schedule: str, rows: int,
             upload_files: int) -> tuple[list[str], list[str]]:
    inventory, usage, prices, _ = priced(assembly, run, region)
    app = limits.read_app(inventory, inventory.definition)
    scaled = limits.scaled_usage(usage, app, rows, upload_files)
    per_run = totals(cost_lines(inventory, scaled, prices), schedule).per_run
    return limits.render(app, usage, rows, per_run, upload_files)


def report(assembly: Path, run: Path, schedule: str, region: str) -> list[str]:
    inventory, usage, prices, lines = priced(assembly, run, region)
    out = [f"Cost in {prices.region} (prices as of {prices.as_of}) of {assembly}/, with the usage of {run} "
           f"({usage.rows:,} customers, measured on {usage.local_cpus} CPUs)", "", *table(lines, schedule), "",
           "Per use:", *per_use(lines), "", f"By customers (fixed + {schedule} runs):"]
    for rows, scaled in by_customers(inventory, usage, prices, schedule):
        out.append(f"- {rows:>10,}: ${scaled.per_run:.2f} a run, ${scaled.month:.2f} a month")
    out += ["", "Assumptions (cost/usage.py): " + ", ".join(f"{k} = {v:g}" for k, v in ASSUMPTIONS.items())]
    return out


if __name__ == "__main__":
    sys.exit(main())
