"""Release operations around the components: ``immutable-ops`` (``python -m immutable_infra.ops``).

Modules, one job each: ``cli`` (the Typer app), ``workspace`` (Automation API and CLI
plumbing), ``steps`` (reading ``pulumi preview --json``), ``guard`` (in-place compute
changes), ``comment`` (pull-request comment), ``history``, ``promote``, ``rollback``,
``drift``, ``parity``, ``report``, ``coverage``, ``touched`` (stacks a change touches),
``records`` (what the commands read from a stack), ``output`` (tables, JSON, progress),
``errors`` (exit codes). Importing the package does no work.
"""
