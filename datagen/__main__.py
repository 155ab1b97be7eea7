"""python -m datagen --rows N --seed S --out DIR"""

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from datagen.generator import GeneratorConfig
from datagen.writer import write_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datagen", description="Generate synthetic customers.")
    parser.add_argument("--rows", type=int, default=100_000, help="customers to generate (default 100000)")
    parser.add_argument("--seed", type=int, default=42, help="same seed, same bytes (default 42)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--anomaly-share", type=float, default=0.01, help="share of bot-like accounts (default 0.01)")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 1),
                        help="reference date for signup dates (default 2026-11-01)")
    args = parser.parse_args(argv)
    try:
        config = GeneratorConfig(rows=args.rows, seed=args.seed, anomaly_share=args.anomaly_share, as_of=args.as_of)
    except ValueError as error:
        parser.error(str(error))
    manifest = write_dataset(config, args.out)
    print(f"wrote {manifest['rows']:,} customers ({manifest['anomalous_rows']:,} anomalous) to {args.out}/ "
          f"in {manifest['generation_seconds']} s")
    print(json.dumps(manifest["ceilings"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
