"""``python -m immutable_infra.provider --facades|--schema``: print the generated facades or the schema."""

from __future__ import annotations

import json
import sys

from .catalog import FACADES
from .facades import facade_source
from .host import schema


def main(argv: list[str]) -> int:
    if argv == ["--facades"]:
        sys.stdout.write(facade_source(FACADES))
    elif argv == ["--schema"]:
        sys.stdout.write(json.dumps(schema(), indent=2, sort_keys=True) + "\n")
    else:
        print("usage: python -m immutable_infra.provider --facades | --schema", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
