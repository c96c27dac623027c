"""``immutable-ops``: release operations on the Pulumi Automation API.

This module only parses the command line and renders results. Each command is one call,
``commands.<name>.run(project, ...)``, which returns a result (``as_dict()`` and ``view()``);
the ``@command`` decorator renders it as a table, Markdown or JSON, turns an ``OpsError`` into
its message and exit code, and exits with the result's code. Exit codes are listed in
``errors.py`` (``ExitCode``) and in ``--help``. Importing this module does no work: every
command imports what it needs when it runs.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .errors import OpsError
from .output import Format, Result  # Result at run time: Typer reads the commands' annotations

if TYPE_CHECKING:
    from .workspace import Project

EXIT_CODES = ("Exit codes: 0 ok (nothing found) · 1 internal error (a bug) · 2 bad command line · "
              "3 bad input, nothing changed · 4 guard: in-place compute change · 5 drift found · "
              "6 drift cannot be checked on this target · 7 parity: a difference outside the knobs · "
              "8 a Pulumi operation failed (ledger edit reverted) · 9 health: Prometheus or the cluster unreachable")

app = typer.Typer(
    name="immutable-ops",
    help="Release operations for immutable infrastructure on Pulumi: guard previews, show release history, "
         "promote, roll back, detect drift, prove parity, report metrics.\n\n" + EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# --- shared option types ---------------------------------------------------------------------------

StackArg = Annotated[str, typer.Argument(help="The stack")]
StacksArg = Annotated[list[str] | None, typer.Argument(help="Stacks (default: every Pulumi.<stack>.yaml)")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f")]
ServiceOpt = Annotated[str | None, typer.Option("--service", help="Only this workload")]
PreviewJsonOpt = Annotated[Path | None, typer.Option("--preview-json", "-p", dir_okay=False,
                                                     help="`pulumi preview --json` output (default: run a preview)")]


@dataclass
class Context:
    cwd: Path | None
    _project: Project | None = None

    @property
    def project(self) -> Project:
        if self._project is None:
            from .workspace import Project

            self._project = Project.open(self.cwd)
        return self._project


def _ctx(ctx: typer.Context) -> Context:
    obj = ctx.obj
    assert isinstance(obj, Context)
    return obj


def command(name: str | None = None, *, hidden: bool = False) -> Callable[[Callable[..., Result]], Callable[..., None]]:
    """Register a command whose body returns a result: render it in ``--format`` (``fmt``; ``--json``
    where that is the only choice), report an ``OpsError`` with its exit code, exit with the
    result's code."""

    def register(body: Callable[..., Result]) -> Callable[..., None]:
        @functools.wraps(body)
        def run(*args: Any, **kwargs: Any) -> None:
            from . import output

            try:
                fmt = kwargs.get("fmt") or (Format.json if kwargs.get("json_output") else Format.table)
                shown = output.render(fmt, body(*args, **kwargs))
                if shown.error is not None:
                    raise shown.error
            except OpsError as exc:
                output.error(exc.message, hint=exc.hint, details=exc.details)
                raise typer.Exit(int(exc.code)) from None
            if shown.exit_code:
                raise typer.Exit(shown.exit_code)

        app.command(name, hidden=hidden)(run)
        return run

    return register


@app.callback()
def main_options(
    ctx: typer.Context,
    cwd: Annotated[Path | None, typer.Option("--cwd", "-C", help="Project directory (default: the nearest "
                                             "directory holding Pulumi.yaml)", file_okay=False)] = None,
) -> None:
    ctx.obj = Context(cwd)


@command()
def guard(
    ctx: typer.Context,
    stacks: Annotated[list[str] | None, typer.Argument(help="Stacks to preview (default: every Pulumi.<stack>.yaml)")] = None,
    preview_json: Annotated[list[Path] | None, typer.Option("--preview-json", "-p", help="Read this `pulumi preview "
                            "--json` output instead of running a preview (repeatable)", dir_okay=False)] = None,
    save_dir: Annotated[Path | None, typer.Option(help="Write each preview's JSON to DIR/<stack>.json")] = None,
    fmt: FormatOpt = Format.table,
) -> Result:
    """Fail (exit 4) if any preview step would modify running compute in place."""
    from .commands import guard as cmd

    return cmd.run(lambda: _ctx(ctx).project, stacks or [], preview_json or [], save_dir)


@command()
def comment(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="The stack the comment is about")],
    preview_json: PreviewJsonOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the comment here (default: stdout)")] = None,
    max_chars: Annotated[int, typer.Option(help="Longest comment (GitHub's limit is 65536)")] = 60_000,
) -> Result:
    """Print the pull-request comment for one stack's preview (Markdown)."""
    from .commands import comment as cmd

    result = cmd.run(lambda: _ctx(ctx).project, stack, preview_json, max_chars)
    if out is not None:  # rendered into the file instead of stdout
        out.write_text(result.markdown, encoding="utf-8")
        result.markdown = ""
    return result


@command()
def history(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack whose releases to list")],
    fmt: FormatOpt = Format.table,
    all_updates: Annotated[bool, typer.Option("--all", help="Also list updates that changed no release")] = False,
) -> Result:
    """The releases deployed to a stack: release, artifact, when, by which update, result."""
    from .commands import history as cmd

    return cmd.run(_ctx(ctx).project, stack, all_updates)


@command()
def record(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack whose releases to record")],
    check: Annotated[bool, typer.Option("--check", help="Change nothing; exit 3 if a release is not recorded")] = False,
    fmt: FormatOpt = Format.table,
) -> Result:
    """Record the releases the stack runs or is about to run (ledger + releases/<stack>.yaml); run before `up`."""
    from .commands import record as cmd

    return cmd.run(_ctx(ctx).project, stack, check)


@command()
def releases(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack whose recorded releases to list")],
    service: ServiceOpt = None,
    show: Annotated[str | None, typer.Option("--show", help="Print every setting of this release (id or prefix)")] = None,
    diff: Annotated[tuple[str, str] | None, typer.Option("--diff", help="The settings that changed from X to Y")] = None,
    fmt: FormatOpt = Format.table,
) -> Result:
    """The recorded releases of a stack and what changed between them (no engine needed)."""
    from .commands import releases as cmd

    return cmd.run(_ctx(ctx).project, stack, service, show, diff)


@command()
def health(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack whose releases to show")],
    service: Annotated[str | None, typer.Option("--service", help="Only this service")] = None,
    prometheus: Annotated[str | None, typer.Option("--prometheus", help="Prometheus URL (default: the stack's "
                                                   "immutable:environment.prometheus_url, $IMMUTABLE_PROMETHEUS_URL, "
                                                   "the local cluster's)")] = None,
    window: Annotated[str, typer.Option("--window", help="Rate window (PromQL duration)")] = "1m",
    fmt: FormatOpt = Format.table,
) -> Result:
    """Request rate, error ratio and p95 latency per service and release, from Prometheus."""
    from .commands import health as cmd

    return cmd.run(_ctx(ctx).project, stack, prometheus, window, service)


@command()
def logs(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack the service belongs to")],
    service: Annotated[str, typer.Option("--service", help="The service")],
    release: Annotated[str, typer.Option("--release", help="The release id")],
    tail: Annotated[int, typer.Option("--tail", help="Last lines per pod")] = 100,
) -> Result:
    """The logs of one release's pods only."""
    from .commands import logs as cmd

    return cmd.run(_ctx(ctx).project, stack, service, release, tail)


@command()
def promote(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="FROM", help="Stack where the artifacts were tested")],
    target: Annotated[str, typer.Argument(metavar="TO", help="Stack to promote them to")],
    service: Annotated[list[str] | None, typer.Option("--service", help="Only this workload (repeatable)")] = None,
    deploy: Annotated[bool, typer.Option("--deploy", help="Also run `pulumi up` on TO after a clean preview")] = False,
    fmt: FormatOpt = Format.table,
) -> Result:
    """Copy the exact tested artifacts (ledger entries) from FROM to TO and preview TO; never rebuild."""
    from .commands import promote as cmd

    return cmd.run(_ctx(ctx).project, source, target, service or (), deploy)


@command()
def rollback(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack to roll back")],
    to: Annotated[str | None, typer.Option("--to", help="Kept release id (or a unique prefix), artifact or digest; "
                                           "default: the newest kept release")] = None,
    service: Annotated[str | None, typer.Option("--service", help="Workload to roll back")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; change nothing")] = False,
    traffic_with_update: Annotated[bool, typer.Option(
        "--traffic-with-update", help="Never move a warm kept release's traffic before the update")] = False,
    fmt: FormatOpt = Format.table,
) -> Result:
    """Point the ledger at a kept release and deploy; reports how long it took.

    A warm kept release gets the traffic before the update starts; the update then records it."""
    from .commands import rollback as cmd

    return cmd.run(_ctx(ctx).project, stack, to, service, dry_run, traffic_with_update)


@command()
def drift(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack to check")],
    fix: Annotated[bool, typer.Option("--fix", help="Recreate the drifted objects from the release, traffic kept "
                                      "(an active release gets a clean copy beside it first; never a patch of it)")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds a clean copy may take to become ready")] = 300,
    fmt: FormatOpt = Format.table,
) -> Result:
    """Compare what runs with what the releases declare; name each drifted field and its manager (exit 5)."""
    from .commands import drift as cmd

    return cmd.run(_ctx(ctx).project, stack, fix, timeout)


@command()
def parity(
    ctx: typer.Context,
    stacks: Annotated[list[str] | None, typer.Argument(help="Stacks to compare (default: every Pulumi.<stack>.yaml)")] = None,
    no_preview: Annotated[bool, typer.Option("--no-preview", help="Compare config only (no `pulumi preview`)")] = False,
    show_allowed: Annotated[bool, typer.Option("--show-allowed/--hide-allowed", help="List the allowed differences")] = True,
    fmt: FormatOpt = Format.table,
) -> Result:
    """Prove the stacks have one topology and differ only in the knobs EnvironmentConfig allows (exit 7 if not)."""
    from .commands import parity as cmd

    return cmd.run(_ctx(ctx).project, stacks or [], no_preview, show_allowed)


@command()
def report(
    ctx: typer.Context,
    stacks: Annotated[list[str] | None, typer.Argument(help="Stacks to report on (default: every deployed stack)")] = None,
    days: Annotated[int | None, typer.Option(help="Only updates of the last N days")] = None,
    check_drift: Annotated[bool, typer.Option("--drift/--no-drift", help="Run a refresh preview for the drift metric")] = True,
    inventory: Annotated[list[str] | None, typer.Option(help="STACK=FILE: JSON inventory of what exists (kubectl get "
                                                        "-o json, a list of ids) for IaC coverage (repeatable)")] = None,
    fmt: FormatOpt = Format.table,
) -> Result:
    """Metrics of immutable operations from stack histories: deploy frequency, change failure rate,
    time to restore, rollback time, drift, IaC coverage, image build time (from the ledger)."""
    from .commands import report as cmd

    return cmd.run(_ctx(ctx).project, stacks or [], days, check_drift, inventory or [])


@command()
def touched(
    ctx: typer.Context,
    files: Annotated[list[str] | None, typer.Argument(help="Changed files, relative to the project (default: stdin)")] = None,
    base: Annotated[str | None, typer.Option(help="Git ref: the files changed between it and HEAD")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON list")] = False,
) -> Result:
    """The stacks a change touches (the pull-request workflow previews those)."""
    from .commands import touched as cmd

    changed = list(files or [])
    if not files and not base:
        changed += [line for line in sys.stdin.read().splitlines() if line.strip()]
    return cmd.run(_ctx(ctx).project, changed, base)


# --- hidden commands: what scripts/lib.sh and scripts/deploy.sh ask ----------------------------

@command("check-ledger", hidden=True)
def check_ledger(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack whose ledger must name every release it runs")],
) -> Result:
    """Exit 3 with the error when the ledger lacks a release the stack runs (scripts/deploy.sh, before `up`)."""
    from .commands import entrances

    return entrances.check_ledger(_ctx(ctx).project, stack)


@command("stale-lock", hidden=True)
def stale_lock(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack whose locks to look at")],
) -> Result:
    """Exit 0 naming the locks when every lock of STACK is a killed update's on this host (safe to
    `pulumi cancel`); exit 1 when there is none or one may be live (scripts/lib.sh)."""
    from .commands import entrances

    return entrances.stale_lock(_ctx(ctx).cwd, stack)


@command("converge", hidden=True)
def converge(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack whose state must describe its cluster")],
    when: Annotated[str, typer.Argument(help="`before` the update (drop missing objects from the state) or "
                                        "`after` it (fail if any is still missing)")],
) -> Result:
    """Exit 1 when the cluster does not hold what the state of STACK describes (scripts/lib.sh, around `up`)."""
    from .commands import entrances

    return entrances.converge(_ctx(ctx).project, stack, when)


@command("backend-url", hidden=True)
def backend_url() -> Result:
    """The backend the CLI uses (``none`` when none is chosen), its password masked (scripts/lib.sh)."""
    from .commands import entrances

    return entrances.backend_url()


def main() -> None:
    """Console-script entry point (``immutable-ops``; also ``python -m immutable_infra.ops``)."""
    app(prog_name="immutable-ops")
