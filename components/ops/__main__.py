"""``python -m immutable_infra.ops``: the same as the ``immutable-ops`` console script."""

from .cli import main

main()
