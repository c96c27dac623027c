"""The pull-request comment for one stack's preview (pure).

The first line says which releases are swapped in and out and how many in-place compute
changes the guard found, e.g.::

    `dev` · web: 849a82ba → 1237f522 (blue-green); api: ff5308c1 → 5d0c2ad3 (rolling), 0 in-place compute changes

Below it: kept and retired releases, the guard's findings in plain words (if any), and the
full diff folded in a ``<details>`` block: one table row per changed resource with the
changed properties (old → new). The comment ends with an invisible marker naming the stack,
so the workflow edits its own comment instead of adding another one on every push.

Large stacks (hundreds of services swapping at once, a base-image bump) stay under GitHub's
65,536-character limit and readable: the first line then gives counts (``1000 releases
swapped (1000 blue-green)``), and the per-service list, many guard findings and the diff are
folded, each cut to the room left with a "… N more" line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .guard import Finding, summary
from .history import short_artifact
from .records import WorkloadState, parse_ledger_config, workloads_from_outputs
from .steps import (
    ACTIVE_RELEASE_TAG,
    ROLE_LABEL,
    Preview,
    Step,
    app_of,
    flatten,
    iter_custom,
    labels_of,
    release_of,
)

LEDGER_CONFIG = "immutable:ledger"
MAX_CHARS = 60_000
"""GitHub refuses comments above 65,536 characters."""
MARKER = "<!-- immutable-ops:preview:{stack} -->"
INLINE_SWAPS = 5
"""More swaps than this: the first line gives counts and the list is folded."""
INLINE_FINDINGS = 20
INLINE_EXTRAS_CHARS = 600
COMPUTE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Pod", "Group", "Instance", "Container"}
OP_SYMBOL = {"create": "+", "update": "~", "delete": "-", "replace": "±", "create-replacement": "±",
             "delete-replaced": "-", "import": "=", "read": ">"}
OP_ORDER = {"create": 0, "replace": 1, "create-replacement": 1, "update": 2, "delete-replaced": 3, "delete": 4}


@dataclass(frozen=True)
class Swap:
    workload: str
    old: str | None
    new: str | None
    strategy: str

    def text(self) -> str:
        return f"{self.workload}: {self.old or '∅'} → {self.new or '∅'} ({self.strategy})"


def _active_computes(steps: Sequence[Step], *, new: bool) -> dict[str, tuple[str, Step]]:
    """workload -> (active release, the compute step holding it), before or after."""
    out: dict[str, tuple[str, Step]] = {}
    for step in iter_custom(steps):
        if (new and not step.has_new) or (not new and not step.has_old):
            continue
        inputs = step.new_inputs if new else step.old_inputs
        app, release = app_of(inputs), release_of(inputs)
        if not app or not release:
            continue
        labels = labels_of(inputs)
        if step.kind in COMPUTE_KINDS and labels.get(ROLE_LABEL, "active") == "active":
            out.setdefault(app, (release, step))
        elif labels.get(ACTIVE_RELEASE_TAG):
            out.setdefault(app, (labels[ACTIVE_RELEASE_TAG], step))
    return out


def swaps(preview: Preview) -> list[Swap]:
    """Which release each workload runs before and after the preview's update, and how it moves:
    ``rolling`` (the same workload object rolls its pods), ``blue-green`` (a new one is created
    beside the old), ``blue-green, kept`` (a kept release takes the traffic back: a rollback
    or roll-forward), ``new group`` / ``instance refresh`` (auto scaling groups)."""
    stack_step = preview.stack_step()
    before_outputs = workloads_from_outputs(stack_step.old_outputs) if stack_step else {}
    old_computes = _active_computes(preview.steps, new=False)
    before = {w: s.release for w, s in before_outputs.items()}
    for workload, (release, _) in old_computes.items():
        before.setdefault(workload, release)
    after = _active_computes(preview.steps, new=True)
    out = []
    for workload in sorted(set(before) | set(after)):
        old = before.get(workload)
        new_release, step = after.get(workload, (None, None))
        if step is None or new_release == old:
            continue
        old_step = old_computes.get(workload, (None, None))[1]
        group = step.kind == "Group"
        if old is None:
            strategy = "first release"
        elif step.op in ("replace", "create-replacement"):
            strategy = "replaced"
        elif old_step is not None and old_step.urn == step.urn:
            strategy = "instance refresh" if group else "rolling"
        elif step.op == "create":
            strategy = "new group" if group else "blue-green"
        else:
            strategy = "kept group" if group else "blue-green, kept"
        out.append(Swap(workload, old, new_release, strategy))
    out += _artifact_only_swaps(preview, before_outputs, set(after))
    return sorted(out, key=lambda s: s.workload)


def _artifact_only_swaps(preview: Preview, before: Mapping[str, WorkloadState], seen: set[str]) -> list[Swap]:
    """Workloads the preview deploys nothing for (e.g. a server group without an AWS target)
    whose ledger now points at another artifact: the release id is known only after ``up``."""
    ledgers = parse_ledger_config(preview.config.get(LEDGER_CONFIG))
    out = []
    for name, state in before.items():
        ledger = ledgers.get(name)
        if name in seen or ledger is None or state.artifact is None or ledger.active_artifact == state.artifact:
            continue
        out.append(Swap(name, state.release, short_artifact(ledger.active_artifact), "new artifact, nothing deployed here"))
    return out


def retired(preview: Preview) -> list[tuple[str, str]]:
    """(workload, release) whose compute is deleted."""
    out = []
    for step in iter_custom(preview.steps):
        if step.op in ("delete", "delete-replaced") and step.kind in COMPUTE_KINDS:
            app, release = app_of(step.old_inputs), release_of(step.old_inputs)
            if app and release:
                out.append((app, release))
    return sorted(set(out))


def first_line(stack: str, preview: Preview, findings: Sequence[Finding]) -> str:
    swapped = swaps(preview)
    changing = preview.changing()
    if len(swapped) > INLINE_SWAPS:
        # Hundreds of services: counts here, the list folded below (the line stays one line).
        head = f"{len(swapped)} releases swapped ({_strategy_counts(swapped)})"
    elif swapped:
        head = "; ".join(s.text() for s in swapped)
    elif changing:
        n = len(list(iter_custom(changing)))
        head = f"no release swapped ({n} other change{'' if n == 1 else 's'})"
    else:
        head = "no changes"
    guard = summary(findings)
    if findings:
        guard = f"⚠️ {guard} (guard fails)"
    return f"`{stack}` · {head}, {guard}"


def _strategy_counts(swapped: Sequence[Swap]) -> str:
    counts: dict[str, int] = {}
    for swap in swapped:
        counts[swap.strategy] = counts.get(swap.strategy, 0) + 1
    return ", ".join(f"{n} {strategy}" for strategy, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _fold(summary_text: str, items: Sequence[str], budget: int, *, more: str) -> list[str]:
    """A ``<details>`` block listing as many of ``items`` as fit in ``budget`` characters."""
    lines = [f"<details><summary>{summary_text}</summary>", ""]
    used = sum(len(line) + 1 for line in lines) + len("</details>") + 2 + 80
    for index, item in enumerate(items):
        if used + len(item) + 1 > budget:
            lines.append(f"- … {len(items) - index} more ({more})")
            break
        lines.append(item)
        used += len(item) + 1
    return [*lines, "", "</details>", ""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _value(value: object, width: int = 40) -> str:
    if isinstance(value, str) and "@sha256:" in value:
        repo, digest = value.split("@sha256:", 1)
        value = f"{repo.rsplit('/', 1)[-1]}@sha256:{digest[:8]}"
    text = value if isinstance(value, str) else "∅" if value is None else repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _changes(step: Step, limit: int = 6) -> str:
    if step.op not in ("update", "replace", "create-replacement"):
        return ""
    old, new = flatten(dict(step.old_inputs)), flatten(dict(step.new_inputs))
    parts = []
    paths = step.changed_paths()
    for path in paths[:limit]:
        if path in old or path in new:
            parts.append(f"`{path}`: {_value(old.get(path))} → {_value(new.get(path))}")
        else:
            parts.append(f"`{path}`")
    if len(paths) > limit:
        parts.append(f"+{len(paths) - limit} more")
    return "; ".join(parts)


def _summary_counts(counts: Mapping[str, int]) -> str:
    words = {"create": "to create", "update": "to update", "delete": "to delete", "replace": "to replace",
             "same": "unchanged"}
    parts = [f"{counts[op]} {words.get(op, op)}" for op in ("create", "replace", "update", "delete", "same")
             if counts.get(op)]
    parts += [f"{n} {op}" for op, n in counts.items() if op not in words and n]
    return ", ".join(parts) or "no steps"


def render(stack: str, preview: Preview, findings: Sequence[Finding], *, max_chars: int = MAX_CHARS) -> str:
    """The whole comment, Markdown, at most ``max_chars`` long whatever the stack's size: one
    summary line, then the lists (long ones folded in ``<details>``), then the diff table with
    whatever room is left."""
    lines = [first_line(stack, preview, findings), ""]
    tail = ["", "</details>", "", MARKER.format(stack=stack)]
    # Room for each section: findings first (they fail the check), then the swaps, then the diff.
    room = max_chars - len(lines[0]) - len("\n".join(tail)) - 400
    swapped = swaps(preview)
    kept = [f"{s.workload} {s.old}" for s in swapped
            if s.old and s.strategy in ("blue-green", "blue-green, kept", "new group", "kept group")]
    gone = [f"{w} {r}" for w, r in retired(preview)]
    extras = []
    if kept:
        extras.append("swapped out (kept for rollback): " + ", ".join(kept))
    if gone:
        extras.append("retired: " + ", ".join(gone))
    if findings:
        items = [f"- `{f.name}` ({f.rule}): {f.message}" for f in findings]
        lines.append("**In-place changes to running compute (the guard fails):**")
        if len(items) <= INLINE_FINDINGS and sum(len(i) + 1 for i in items) <= room // 2:
            lines += items
            lines.append("")
        else:
            lines += ["", *_fold(f"{len(items)} in-place changes", items, room // 2,
                                 more="run `immutable-ops guard` for all of them")]
    if len(swapped) > INLINE_SWAPS or sum(len(e) for e in extras) > INLINE_EXTRAS_CHARS:
        items = [f"- {s.text()}" for s in swapped] + [f"- swapped out, kept: {k}" for k in kept]
        items += [f"- retired: {g}" for g in gone]
        used = len("\n".join(lines))
        lines += _fold(f"Releases: {len(swapped)} swapped, {len(kept)} kept, {len(gone)} retired", items,
                       (room - used) // 2, more="see the preview JSON in the workflow's artifacts")
    elif extras:
        lines += [" · ".join(extras), ""]
    rows = sorted(iter_custom(preview.changing()),
                  key=lambda s: (OP_ORDER.get(s.op, 9), s.name, s.type))
    lines += [f"<details><summary>Full diff: {_summary_counts(preview.change_summary)}</summary>", ""]
    if rows:
        lines += ["| | resource | type | changes |", "|---|---|---|---|"]
        budget = max_chars - len("\n".join(lines + tail)) - 200
        for index, step in enumerate(rows):
            row = f"| {OP_SYMBOL.get(step.op, step.op)} | `{step.name}` | {step.kind} | {_cell(_changes(step))} |"
            if len(row) + 1 > budget:
                lines.append(f"| … | {len(rows) - index} more | | see the preview JSON in the workflow's artifacts |")
                break
            lines.append(row)
            budget -= len(row) + 1
    else:
        lines.append("No resource changes.")
    return "\n".join(lines + tail) + "\n"
