"""Container entrypoint: `python -m engagement_ml train|infer`, configured by environment.

The last line printed is one JSON document (the state machine's input for the next state).
A failure prints the reason to stderr and exits non-zero, which fails the ECS task.
"""

import json
import os
import sys

from engagement_ml.config import ConfigError, infer_config, train_config


def main(argv: list[str] | None = None, env=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    if len(argv) != 1 or argv[0] not in ("train", "infer"):
        print("usage: python -m engagement_ml train|infer (settings from environment variables)", file=sys.stderr)
        return 2
    try:
        if argv[0] == "train":
            from engagement_ml.train import train

            summary = train(train_config(env))
        else:
            from engagement_ml.infer import infer

            summary = infer(infer_config(env))
    except (ConfigError, FileNotFoundError, ValueError) as error:
        print(f"{argv[0]} failed: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
