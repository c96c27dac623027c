"""``immutable-ops``: release operations on the Pulumi Automation API.

Commands: guard, comment, history, promote, rollback, drift, parity, report, touched.
Exit codes are listed in ``errors.py`` (``ExitCode``) and in ``--help``. Importing this
module does no work: every command imports what it needs when it runs.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from .errors import ExitCode, OpsError
from .output import Format

if TYPE_CHECKING:
    from .drift import DriftReport
    from .steps import Preview
    from .workspace import Project

EXIT_CODES = ("Exit codes: 0 ok (nothing found) · 1 internal error (a bug) · 2 bad command line · "
              "3 bad input, nothing changed · 4 guard: in-place compute change · 5 drift found · "
              "6 drift cannot be checked on this target · 7 parity: a difference outside the knobs · "
              "8 a Pulumi operation failed (ledger edit reverted)")

app = typer.Typer(
    name="immutable-ops",
    help="Release operations for immutable infrastructure on Pulumi: guard previews, show release history, "
         "promote, roll back, detect drift, prove parity, report metrics.\n\n" + EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

T = TypeVar("T")


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


def _run(body: Callable[[], T]) -> T:
    """Run a command body; an ``OpsError`` becomes a readable message and its exit code."""
    from . import output

    try:
        return body()
    except OpsError as exc:
        output.error(exc.message, hint=exc.hint, details=exc.details)
        raise typer.Exit(int(exc.code)) from None


@app.callback()
def main_options(
    ctx: typer.Context,
    cwd: Annotated[Path | None, typer.Option("--cwd", "-C", help="Project directory (default: the nearest "
                                             "directory holding Pulumi.yaml)", file_okay=False)] = None,
) -> None:
    ctx.obj = Context(cwd)


def _preview(project: Project, stack: str, save_dir: Path | None = None) -> Preview:
    """Run ``pulumi preview --json`` on ``stack`` (and keep its JSON in ``save_dir``)."""
    import json

    from . import output
    from .steps import parse_preview

    with output.progress(f"pulumi preview {stack}") as update:
        data = project.preview_json(stack, on_output=update)
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        (save_dir / f"{stack}.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    return parse_preview(data, source=f"preview of {stack}")


# --- guard ---------------------------------------------------------------------------------------

@app.command()
def guard(
    ctx: typer.Context,
    stacks: Annotated[list[str] | None, typer.Argument(help="Stacks to preview (default: every Pulumi.<stack>.yaml)")] = None,
    preview_json: Annotated[list[Path] | None, typer.Option("--preview-json", "-p", help="Read this `pulumi preview "
                            "--json` output instead of running a preview (repeatable)", dir_okay=False)] = None,
    save_dir: Annotated[Path | None, typer.Option(help="Write each preview's JSON to DIR/<stack>.json")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Fail (exit 4) if any preview step would modify running compute in place."""
    from . import guard as rules
    from . import output
    from .steps import load_preview

    def body() -> None:
        previews: list[tuple[str, Preview]] = []
        for path in preview_json or []:
            preview = load_preview(path)
            previews.append((preview.stack or path.stem, preview))
        if not preview_json:
            project = _ctx(ctx).project
            names = stacks or project.stack_names()
            for name in names:
                project.require_stack(name)
            for name in names:
                previews.append((name, _preview(project, name, save_dir)))
        results = [(label, rules.check(preview)) for label, preview in previews]
        data = {"ok": not any(f for _, f in results),
                "stacks": {label: {"in_place_changes": len(f), "findings": [x.as_dict() for x in f]} for label, f in results}}
        rows = [[label, f.name, f.type.rsplit(":", 1)[-1], f.rule, f.message] for label, found in results for f in found]
        if fmt is Format.json:
            output.print_json(data)
        elif rows:
            output.emit(fmt, "In-place changes to running compute", ["stack", "resource", "kind", "rule", "what"], rows, data)
        for label, found in results:
            if fmt is not Format.json:
                mark = "[red]✗[/]" if found else "[green]✓[/]"
                output.say(f"{mark} {label}: {rules.summary(found)}")
        if rows:
            raise typer.Exit(int(ExitCode.GUARD_FAILED))

    _run(body)


# --- comment -------------------------------------------------------------------------------------

@app.command()
def comment(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="The stack the comment is about")],
    preview_json: Annotated[Path | None, typer.Option("--preview-json", "-p", dir_okay=False,
                                                      help="`pulumi preview --json` output (default: run a preview)")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the comment here (default: stdout)")] = None,
    max_chars: Annotated[int, typer.Option(help="Longest comment (GitHub's limit is 65536)")] = 60_000,
) -> None:
    """Print the pull-request comment for one stack's preview (Markdown)."""
    from . import comment as text
    from . import guard as rules
    from .steps import load_preview

    def body() -> None:
        preview = load_preview(preview_json) if preview_json else _preview(_ctx(ctx).project, stack)
        markdown = text.render(stack, preview, rules.check(preview), max_chars=max_chars)
        if out is not None:
            out.write_text(markdown, encoding="utf-8")
        else:
            sys.stdout.write(markdown)

    _run(body)


# --- history -------------------------------------------------------------------------------------

@app.command()
def history(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack whose releases to list")],
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    all_updates: Annotated[bool, typer.Option("--all", help="Also list updates that changed no release")] = False,
) -> None:
    """The releases deployed to a stack: release, artifact, when, by which update, result."""
    from . import history as hist
    from . import output

    def body() -> None:
        project = _ctx(ctx).project
        records = project.history(stack)
        found = hist.rows(records, include_unchanged=all_updates)
        header, cells = hist.table(found, project.archive(stack))
        current = project.workloads(stack) if records else {}
        data = hist.as_json(stack, found)
        data["current"] = {n: {"release": s.release, "artifact": s.artifact, "kept": list(s.kept)} for n, s in current.items()}
        output.emit(fmt, f"Releases deployed to {stack}", header, cells, data)
        if fmt is not Format.json and current:
            now = ", ".join(f"{n} {s.release}" + (f" (kept: {', '.join(s.kept)})" if s.kept else "") for n, s in current.items())
            output.say(f"\nnow active in {stack}: {now}")
        if fmt is not Format.json and not records:
            output.say(f"{stack} has no updates yet")

    _run(body)


# --- record --------------------------------------------------------------------------------------

@app.command()
def record(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack whose releases to record")],
    check: Annotated[bool, typer.Option("--check", help="Change nothing; exit 3 if a release is not recorded")] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Record the releases the stack runs or is about to run (ledger + releases/<stack>.yaml); run before `up`."""
    from . import output
    from . import record as rec

    def body() -> None:
        project = _ctx(ctx).project
        project.require_stack(stack)
        archive = project.archive(stack)
        with output.progress(f"pulumi preview {stack} (collecting releases to record)") as update:
            published = project.unrecorded(stack, on_output=update)
        plan = rec.plan(stack, project.ledger(stack), archive, published)
        rows = [[w, rid, kind] for w, rid, kind in plan.recorded]
        data = {"stack": stack, "recorded": [{"workload": w, "release": r, "kind": k} for w, r, k in plan.recorded],
                "check": check}
        if check:
            output.emit(fmt, f"Unrecorded releases of {stack}", ["workload", "release", "kind"], rows, data)
            if plan.recorded:
                raise OpsError(f"{len(plan.recorded)} release(s) of {stack!r} are not recorded",
                               hint=f"run immutable-ops record {stack} and commit Pulumi.{stack}.yaml and releases/{stack}.yaml")
            return
        if plan.changed:
            with project.ledger_edit(stack):
                for workload, after in plan.after.items():
                    if after != plan.before.get(workload):
                        project.write_ledger(stack, workload, plan.before.get(workload), after)
                project.save_archive(stack, plan.archive)
        output.emit(fmt, f"Recorded releases of {stack}", ["workload", "release", "kind"], rows, data)
        if fmt is not Format.json:
            output.say(f"{len(plan.recorded)} recorded; review and commit "
                       f"Pulumi.{stack}.yaml and releases/{stack}.yaml" if plan.changed else "every release is recorded")

    _run(body)


# --- releases ------------------------------------------------------------------------------------

@app.command()
def releases(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack whose recorded releases to list")],
    service: Annotated[str | None, typer.Option("--service", help="Only this workload")] = None,
    show: Annotated[str | None, typer.Option("--show", help="Print every setting of this release (id or prefix)")] = None,
    diff: Annotated[tuple[str, str] | None, typer.Option("--diff", help="The settings that changed from X to Y")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """The recorded releases of a stack and what changed between them (no engine needed)."""
    import json

    from . import output
    from . import releases as rel

    def body() -> None:
        project = _ctx(ctx).project
        project.require_stack(stack)
        archive = project.archive(stack)
        if show:
            name, record = rel.find(archive, show, service)
            data = {"workload": name, "release": record.release, "artifact": record.artifact,
                    "settings": dict(record.settings)}
            if fmt is Format.json:
                output.print_json(data)
            else:
                output.say(f"{name} {record.release}: {record.artifact}")
                for key, value in rel.flatten(dict(record.settings)).items():
                    output.say(f"  {key}: {json.dumps(value, ensure_ascii=False)}")
            return
        if diff:
            (wa, old), (wb, new) = rel.find(archive, diff[0], service), rel.find(archive, diff[1], service)
            if wa != wb:
                raise OpsError(f"{diff[0]} is a release of {wa}, {diff[1]} of {wb}")
            changes = rel.diff(old, new)
            rows = [[k, json.dumps(a, ensure_ascii=False), json.dumps(b, ensure_ascii=False)] for k, a, b in changes]
            delta: dict[str, Any] = {"workload": wa, "from": old.release, "to": new.release,
                                     "changes": [{"setting": k, "from": a, "to": b} for k, a, b in changes]}
            output.emit(fmt, f"{wa}: {old.release} → {new.release}", ["setting", old.release, new.release], rows, delta)
            return
        found = rel.rows(project.ledger(stack), archive, service)
        rows = [[r.workload, r.release + (" (pinned)" if r.pinned else ""), "active" if r.active else "",
                 r.artifact.rsplit("/", 1)[-1][:40], r.note or "", ", ".join(r.changes) or "-"] for r in found]
        listing: dict[str, Any] = {"stack": stack, "releases": [r.__dict__ | {"changes": list(r.changes)} for r in found]}
        output.emit(fmt, f"Recorded releases of {stack} (oldest first)",
                    ["workload", "release", "", "artifact", "note", "changed from previous"], rows, listing)

    _run(body)


# --- promote -------------------------------------------------------------------------------------

@app.command()
def promote(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="FROM", help="Stack where the artifacts were tested")],
    target: Annotated[str, typer.Argument(metavar="TO", help="Stack to promote them to")],
    service: Annotated[list[str] | None, typer.Option("--service", help="Only this workload (repeatable)")] = None,
    deploy: Annotated[bool, typer.Option("--deploy", help="Also run `pulumi up` on TO after a clean preview")] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Copy the exact tested artifacts (ledger entries) from FROM to TO and preview TO; never rebuild."""
    from . import comment as text
    from . import guard as rules
    from . import output
    from . import promote as promotion

    def body() -> None:
        project = _ctx(ctx).project
        project.require_stack(source)
        project.require_stack(target)
        state = project.workloads(source)
        project.stack(target)
        items = promotion.plan(source, target, state, project.ledger(source), project.ledger(target), service or (),
                               source_archive=project.archive(source))
        if not items:
            if fmt is Format.json:
                output.print_json({"source": source, "target": target, "promoted": [], "deployed": False})
            else:
                output.say(f"nothing to promote: {target} already runs what {source} runs")
            return
        deployed = None
        with project.ledger_edit(target):
            promotion.apply(project, target, items)
            preview = _preview(project, target)
            findings = rules.check(preview)
            if findings:
                raise OpsError(f"promoting to {target} would modify running compute in place: "
                               + "; ".join(f.message for f in findings), ExitCode.GUARD_FAILED,
                               hint=f"Pulumi.{target}.yaml was left unchanged")
            if deploy:
                with output.progress(f"pulumi up {target}") as update:
                    deployed = project.up(target, promotion.message(source, target, items), on_output=update)
        line = text.first_line(target, preview, findings)
        data = {"source": source, "target": target, "promoted": [i.as_dict() for i in items], "preview": line,
                "deployed": deployed is not None, "up_seconds": round(deployed.seconds, 2) if deployed else None}
        rows = [[i.workload, i.artifact, i.note or "", i.source_release, i.target_artifact or "-"] for i in items]
        output.emit(fmt, f"Promoted {source} → {target}", ["workload", "artifact", "note", f"release in {source}",
                                                          f"replaces in {target}"], rows, data)
        if fmt is not Format.json:
            output.say(line.replace("`", ""))
            output.say(f"deployed {target} in {deployed.seconds:.1f}s" if deployed else
                       f"Pulumi.{target}.yaml updated (commit it); deploy with --deploy or pulumi up -s {target}")

    _run(body)


# --- rollback ------------------------------------------------------------------------------------

@app.command()
def rollback(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack to roll back")],
    to: Annotated[str | None, typer.Option("--to", help="Kept release id (or a unique prefix), artifact or digest; "
                                           "default: the newest kept release")] = None,
    service: Annotated[str | None, typer.Option("--service", help="Workload to roll back")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; change nothing")] = False,
    traffic_with_update: Annotated[bool, typer.Option(
        "--traffic-with-update", help="Never move a warm kept release's traffic before the update")] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Point the ledger at a kept release and deploy; reports how long it took.

    A warm kept release gets the traffic before the update starts; the update then records it."""
    from . import history as hist
    from . import output
    from . import rollback as rb
    from .records import workloads_from_deployment

    def body() -> None:
        project = _ctx(ctx).project
        deployment = project.export(stack)
        state = workloads_from_deployment(deployment)
        known = hist.releases_seen(project.history(stack)) if to else {}
        plan = rb.plan(stack, state, project.ledger(stack), to=to, workload=service, known=known)
        if dry_run:
            data = {"stack": stack, "workload": plan.workload, "from": plan.from_release, "to": plan.to_release,
                    "artifact": plan.artifact, "dry_run": True}
            if fmt is Format.json:
                output.print_json(data)
            else:
                output.say(f"would roll back {plan.workload} in {stack}: {plan.from_release} → {plan.to_release} "
                           f"({plan.artifact})")
            return
        with output.progress(f"rollback {stack} {plan.workload} {plan.from_release} → {plan.to_release}") as update:
            result = rb.run(project, plan, deployment=deployment, traffic_first=not traffic_with_update,
                            on_output=update)
        if fmt is Format.json:
            output.print_json(result.as_dict())
        else:
            done = {"create": "created", "update": "updated", "delete": "deleted", "replace": "replaced"}
            changes = ", ".join(f"{n} {done.get(op, op)}" for op, n in result.summary.items() if op != "same" and n) \
                or "no resource changes"
            traffic = f"traffic moved in {result.traffic_seconds:.1f}s, before the update" \
                if result.traffic_seconds is not None else f"traffic moved with the update: {result.traffic_note}"
            output.say(f"rolled back {plan.workload} in {stack}: {plan.from_release} → {plan.to_release} in "
                       f"{result.seconds:.1f}s ({traffic}; pulumi up {result.up_seconds:.1f}s; {changes})")

    _run(body)


# --- drift ---------------------------------------------------------------------------------------

@app.command()
def drift(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack to check")],
    fix: Annotated[bool, typer.Option("--fix", help="Replace the drifted resources from the release (never patch)")] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """`refresh --preview-only --expect-no-changes`; name the drifted resources (exit 5)."""
    from . import output
    from .records import DRIFT_FIX_MESSAGE

    def body() -> None:
        project = _ctx(ctx).project
        report = _check_drift(project, stack)
        data: dict[str, Any] = report.as_dict()
        rows = [[d.name, d.type.rsplit(":", 1)[-1], d.state, d.describe()] for d in report.drifted]
        fixed = None
        if report.drifted and fix:
            urns = [d.urn for d in report.drifted]
            with output.progress(f"pulumi up {stack} --replace ({len(urns)} drifted)") as update:
                outcome = project.up(stack, f"{DRIFT_FIX_MESSAGE}: replace {', '.join(d.name for d in report.drifted)}",
                                     replace=urns, on_output=update)
            fixed = _check_drift(project, stack)
            data["fix"] = {"replaced": [d.name for d in report.drifted], "up_seconds": round(outcome.seconds, 2),
                           "drifted_after": [d.name for d in fixed.drifted]}
        if fmt is Format.json:
            output.print_json(data)
        else:
            if rows:
                output.emit(fmt, f"Drift in {stack}", ["resource", "kind", "state", "what differs"], rows, data)
            output.say(f"{stack}: {len(report.drifted)} of {report.managed} resources drifted ({report.percent:.0f}%)")
            if fixed is not None:
                output.say(f"replaced {', '.join(d.name for d in report.drifted)}; drifted now: {len(fixed.drifted)}")
        still = fixed.drifted if fixed is not None else report.drifted
        if still:
            raise typer.Exit(int(ExitCode.DRIFT))

    _run(body)


def _check_drift(project: Project, stack: str) -> DriftReport:
    from . import drift as drifting
    from . import output

    rendered = drifting.render_dirs(project.export(stack))
    if rendered:
        raise OpsError(f"stack {stack!r} cannot be checked for drift: its Kubernetes provider runs in render mode "
                       f"(manifests written to {rendered[0]}), so there is no cluster to read back and refresh "
                       "does not work", ExitCode.DRIFT_UNCHECKABLE,
                       hint="check drift on a stack with a cluster target; for rendered manifests, diff the "
                            "render directory against what your GitOps agent applied")
    with output.progress(f"pulumi refresh --preview-only {stack}") as update:
        records, error = project.refresh_preview(stack, on_output=update)
    if error:
        code = ExitCode.DRIFT_UNCHECKABLE if drifting.unreachable(error) else ExitCode.PULUMI_FAILED
        raise OpsError(f"refresh of {stack!r} failed" + (": the cluster is unreachable" if code == 6 else ""), code,
                       details=error)
    return drifting.find(stack, records)


# --- parity --------------------------------------------------------------------------------------

@app.command()
def parity(
    ctx: typer.Context,
    stacks: Annotated[list[str] | None, typer.Argument(help="Stacks to compare (default: every Pulumi.<stack>.yaml)")] = None,
    no_preview: Annotated[bool, typer.Option("--no-preview", help="Compare config only (no `pulumi preview`)")] = False,
    show_allowed: Annotated[bool, typer.Option("--show-allowed/--hide-allowed", help="List the allowed differences")] = True,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Prove the stacks have one topology and differ only in the knobs EnvironmentConfig allows (exit 7 if not)."""
    from . import output
    from . import parity as par

    def body() -> None:
        project = _ctx(ctx).project
        names = stacks or project.stack_names()
        if len(names) < 2:
            raise OpsError("parity needs at least two stacks", hint=f"stacks: {', '.join(names) or 'none'}")
        configs = {name: project.raw_config(name) for name in names}
        report = par.ParityReport(list(names))
        par.check_config(configs, report)
        deployed = [n for n in names if project.has_state(n)]
        par.check_releases({n: project.ledger(n) for n in names}, {n: project.workloads(n) for n in deployed}, report)
        if not no_preview:
            previews = {name: _preview(project, name) for name in names}
            par.check_topology(previews, configs, report)
        if fmt is Format.json:
            output.print_json(report.as_dict())
        else:
            header = ["where", "what", *names, "allowed by"]

            def cells(diffs: list[par.Difference]) -> list[list[str]]:
                return [[d.where, d.what, *(d.values.get(n, "") for n in names), d.allowed_by or "-"] for d in diffs]

            if show_allowed and report.allowed:
                output.emit(fmt, "Allowed differences (knobs, artifacts)", header, cells(report.allowed), None)
            if report.errors:
                output.emit(fmt, "Differences outside the knobs (parity errors)", header, cells(report.errors), None)
            if report.errors:
                output.say(f"[red]✗[/] parity: {len(report.errors)} difference(s) between {', '.join(names)} outside "
                           "the knobs EnvironmentConfig allows")
            else:
                output.say(f"[green]✓[/] parity: {', '.join(names)} have one topology; they differ only in "
                           f"{len(report.allowed)} allowed knob/artifact value(s)")
        if report.errors:
            raise typer.Exit(int(ExitCode.PARITY))

    _run(body)


# --- report --------------------------------------------------------------------------------------

@app.command()
def report(
    ctx: typer.Context,
    stacks: Annotated[list[str] | None, typer.Argument(help="Stacks to report on (default: every deployed stack)")] = None,
    days: Annotated[int | None, typer.Option(help="Only updates of the last N days")] = None,
    check_drift: Annotated[bool, typer.Option("--drift/--no-drift", help="Run a refresh preview for the drift metric")] = True,
    inventory: Annotated[list[str] | None, typer.Option(help="STACK=FILE: JSON inventory of what exists (kubectl get "
                                                        "-o json, a list of ids) for IaC coverage (repeatable)")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Metrics of immutable operations from stack histories: deploy frequency, change failure rate,
    time to restore, rollback time, drift, IaC coverage, image build time (from the ledger)."""
    from datetime import UTC, datetime, timedelta

    from . import coverage as cov
    from . import drift as drifting
    from . import output
    from . import report as metrics

    def body() -> None:
        project = _ctx(ctx).project
        files: dict[str, Path] = {}
        for item in inventory or []:
            name, sep, file = item.partition("=")
            if not sep or not file:
                raise OpsError(f"--inventory {item!r}: expected STACK=FILE")
            project.require_stack(name)
            files[name] = Path(file)
        names = stacks or [n for n in project.stack_names() if project.has_state(n)]
        since = datetime.now(UTC) - timedelta(days=days) if days else None
        results = []
        for name in names:
            records = project.history(name)
            deployment = project.export(name)
            rendered = drifting.render_dirs(deployment)
            drift_report, drift_note = None, None
            if rendered:
                drift_note = "render mode: no cluster to refresh"
            elif not check_drift:
                drift_note = "not checked (--no-drift)"
            else:
                try:
                    drift_report = _check_drift(project, name)
                except OpsError as exc:
                    drift_note = exc.message
                if drift_report is not None and drift_report.managed == 0:
                    drift_report, drift_note = None, "no resources deployed"
            found, coverage_note, source = None, None, ""
            if name in files:
                found, source = cov.read_inventory(files[name]), str(files[name])
            elif rendered:
                found, source = cov.manifest_keys(Path(rendered[0])), rendered[0]
            else:
                coverage_note = f"no inventory (--inventory {name}=FILE)"
            measured = cov.measure(source, deployment, found) if found is not None else None
            builds = {w: tuple(e.build_seconds for e in ledger.releases if e.build_seconds is not None)
                      for w, ledger in project.ledger(name).items()}
            results.append(metrics.measure(name, records, since=since, drift=drift_report, drift_note=drift_note,
                                           coverage=measured, coverage_note=coverage_note, image_build_seconds=builds))
        grid = metrics.table(results)
        data = {"stacks": [m.as_dict() for m in results]}
        output.emit(fmt, "Immutable operations", grid.header, grid.rows, data)

    _run(body)


# --- touched -------------------------------------------------------------------------------------

@app.command()
def touched(
    ctx: typer.Context,
    files: Annotated[list[str] | None, typer.Argument(help="Changed files, relative to the project (default: stdin)")] = None,
    base: Annotated[str | None, typer.Option(help="Git ref: the files changed between it and HEAD")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON list")] = False,
) -> None:
    """The stacks a change touches (the pull-request workflow previews those)."""
    from . import output
    from .touched import touched as which

    def body() -> None:
        project = _ctx(ctx).project
        changed = list(files or [])
        if base:
            changed += _git_changed(project.dir, base)
        elif not files:
            changed += [line for line in sys.stdin.read().splitlines() if line.strip()]
        result = which(changed, project.stack_names())
        if json_output:
            output.print_json(result)
        else:
            sys.stdout.write("".join(f"{s}\n" for s in result))

    _run(body)


def _git_changed(project_dir: Path, base: str) -> list[str]:
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=project_dir, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise OpsError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    top = Path(git("rev-parse", "--show-toplevel").strip())
    prefix = project_dir.resolve().relative_to(top.resolve()).as_posix()
    names = git("diff", "--name-only", f"{base}...HEAD").splitlines()
    if prefix in ("", "."):
        return names
    return [n[len(prefix) + 1:] for n in names if n.startswith(prefix + "/")]


def main() -> None:
    """Console-script entry point (``immutable-ops``; also ``python -m immutable_infra.ops``)."""
    app(prog_name="immutable-ops")
