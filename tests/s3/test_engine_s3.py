"""A team on one shared ``s3://`` backend: the real Pulumi CLI and ``immutable-ops`` in two git
checkouts of one project, the state in a bucket of a local S3 server (moto_server, our own
process on 127.0.0.1, started and stopped here).

One module-scoped story, in order: A deploys dev -> A and B run ``pulumi up`` at the same
time (one proceeds, the other stops on Pulumi's lock error; B's stale ledger is then refused)
-> two branches append a release to the same ledger (git conflict; a wrong resolution is
refused, the right one deploys) -> a killed ``up`` leaves a lock that ``pulumi cancel``
clears, and the next ``up`` converges -> ``history``, ``rollback``, ``drift`` and
``promote`` (dev -> test, two passphrases, one bucket) through ``immutable-ops`` -> no secret
in clear in any object of the bucket.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from immutable_infra import yaml_text

from ..ops.support import PULUMI, ROOT, explain, run_ops, toolchain_missing
from .moto import AWS_DROP, AWS_ENV, MotoServer

sys.path.insert(0, str(ROOT / "toolchain"))
from pulumi_env import pulumi_env

pytestmark = [pytest.mark.engine, pytest.mark.s3, pytest.mark.timeout(900),
              pytest.mark.skipif(toolchain_missing() is not None, reason=toolchain_missing() or "")]

PROGRAM = Path(__file__).resolve().parent / "programs" / "fleet"
BUCKET = "team-state"
PROJECT = "s3-fleet"
PASS = {"dev": "dev-passphrase-for-s3-tests", "test": "test-passphrase-for-s3-tests"}
TOKEN = {"dev": "dev-token-8c1f0e2a-plaintext", "test": "test-token-5d9b7e44-plaintext"}
LOCK_ERROR = "the stack is currently locked by 1 lock(s)"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}


def artifact(name: str) -> str:
    return "registry.example.com/acme/web@sha256:" + hashlib.sha256(name.encode()).hexdigest()


def rid(art: str, workload: str = "web") -> str:
    return hashlib.sha256(f"{workload}|{art}".encode()).hexdigest()[:8]


V1, V2, B1 = artifact("web-1"), artifact("web-2"), artifact("web-b1")


@dataclass
class Checkout:
    """One engineer's (or runner's) clone of the project; the state is the shared bucket."""

    name: str
    dir: Path
    env: dict[str, str]

    def environ(self, stack: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**self.env, "PULUMI_CONFIG_PASSPHRASE": PASS[stack], **(extra or {})}

    def pulumi(self, *args: str, stack: str = "dev", check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(PULUMI), *args, "--non-interactive"], cwd=self.dir, env=self.environ(stack),
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"[{self.name}] pulumi {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def start_up(self, stack: str, sleep: float, log: Path) -> subprocess.Popen[bytes]:
        """``pulumi up`` in its own process group, held open ``sleep`` seconds by the program."""
        handle = log.open("wb")
        return subprocess.Popen([str(PULUMI), "up", "--yes", "--non-interactive", "-s", stack], cwd=self.dir,
                                env=self.environ(stack, {"FLEET_SLEEP": str(sleep)}), stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def ops(self, *args: str, stack: str = "dev") -> subprocess.CompletedProcess[str]:
        return run_ops(self.dir, self.environ(stack), *args, timeout=300)

    def ops_json(self, *args: str, stack: str = "dev") -> Any:
        proc = self.ops(*args, "--format", "json", stack=stack)
        assert proc.returncode == 0, explain(proc)
        return json.loads(proc.stdout)

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["git", *args], cwd=self.dir, env={**os.environ, **GIT_ENV}, capture_output=True,
                              text=True, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"[{self.name}] git {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def append(self, art: str, stack: str = "dev") -> None:
        """What a pull request does: append a release to the ledger (with the CLI's YAML edit)."""
        entries = self.ledger(stack)["web"]["releases"]
        self.pulumi("config", "set", "--path", f"immutable:ledger.web.releases[{len(entries)}].artifact", art,
                    "-s", stack, stack=stack)

    def ledger(self, stack: str = "dev") -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load((self.dir / f"Pulumi.{stack}.yaml").read_text())["config"]["immutable:ledger"]
        return data

    def outputs(self, stack: str = "dev") -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.pulumi("stack", "output", "--json", "-s", stack, stack=stack).stdout)
        return data

    def updates(self, stack: str = "dev") -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads(self.pulumi("stack", "history", "--json", "-s", stack, stack=stack).stdout)
        return data


@dataclass
class Team:
    moto: MotoServer
    a: Checkout
    b: Checkout
    world: Path
    tmp: Path
    done: dict[str, Any] = field(default_factory=dict)

    def lock_keys(self) -> list[str]:
        return [k for k in self.moto.objects(BUCKET) if k.startswith(".pulumi/locks/")]

    def wait_for_lock(self, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.lock_keys():
                return
            if proc.poll() is not None:
                raise AssertionError(f"pulumi up ended before taking its lock:\n{log.read_text()}")
            time.sleep(0.2)
        raise AssertionError(f"no lock object appeared in {timeout:.0f}s:\n{log.read_text()}")


def _checkout_env(url: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in AWS_DROP and not k.startswith("PULUMI_")}
    env = pulumi_env(ROOT, backend_url=url, base=base)
    env.update(AWS_ENV)
    return env


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    tmp = tmp_path_factory.mktemp("s3team")
    moto = MotoServer.start(tmp / "moto.log")
    try:
        moto.create_bucket(BUCKET)
        url = moto.backend_url(BUCKET)
        world = tmp / "world.json"
        origin = tmp / "origin.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True, env={**os.environ, **GIT_ENV})
        a = Checkout("A", tmp / "a", _checkout_env(url))
        shutil.copytree(PROGRAM, a.dir, ignore=shutil.ignore_patterns("__pycache__"))
        meta = yaml.safe_load((a.dir / "Pulumi.yaml").read_text())
        meta["runtime"] = {"name": "python", "options": {"virtualenv": sys.prefix}}
        (a.dir / "Pulumi.yaml").write_text(yaml_text.dump(meta, sort_keys=False))
        a.git("init", "-q", "-b", "main")
        for stack in ("dev", "test"):
            a.pulumi("stack", "init", stack, "--secrets-provider", "passphrase", stack=stack)
            a.pulumi("config", "set", "fleet:world", str(world), "-s", stack, stack=stack)
            a.pulumi("config", "set", "--secret", "fleet:token", TOKEN[stack], "-s", stack, stack=stack)
            a.pulumi("config", "set", "--path", "immutable:ledger.web.releases[0].artifact", V1, "-s", stack, stack=stack)
        a.git("add", "-A")
        a.git("commit", "-q", "-m", "fleet: dev and test stacks")
        a.git("remote", "add", "origin", str(origin))
        a.git("push", "-q", "origin", "main")
        b = Checkout("B", tmp / "b", _checkout_env(url))
        subprocess.run(["git", "clone", "-q", str(origin), str(b.dir)], check=True, env={**os.environ, **GIT_ENV})
        yield Team(moto, a, b, world, tmp)
    finally:
        moto.stop()


def test_two_checkouts_deploy_one_stack_in_the_bucket(team: Team) -> None:
    team.a.pulumi("up", "--yes", "-s", "dev", "-m", "A: first deploy")
    keys = set(team.moto.objects(BUCKET))
    assert f".pulumi/stacks/{PROJECT}/dev.json" in keys and f".pulumi/stacks/{PROJECT}/test.json" in keys
    assert not list(team.tmp.glob("**/.pulumi/stacks"))  # no local state anywhere: all in the bucket
    seen_from_b = team.b.outputs("dev")  # B never deployed: it reads the shared state
    assert seen_from_b["web_release"] == rid(V1) and seen_from_b == team.a.outputs("dev")


def test_concurrent_ups_one_proceeds_the_other_fails_on_the_lock(team: Team) -> None:
    a, b = team.a, team.b
    a.append(V2)
    a.git("commit", "-q", "-am", "web 2 (pull request A)")
    a.git("push", "-q", "origin", "main")
    before = len(a.updates())
    log = team.tmp / "up-a.log"
    slow = a.start_up("dev", sleep=20, log=log)
    try:
        team.wait_for_lock(slow, log)
        # A's update is running: its lock is live, so the scripts' stale-lock check leaves it alone.
        live = subprocess.run([sys.executable, "-m", "immutable_infra.ops", "stale-lock", "dev"], cwd=b.dir,
                              env=b.environ("dev"), capture_output=True, text=True, timeout=60)
        assert live.returncode == 1, live.stdout + live.stderr
        kept = subprocess.run(["bash", "-c", f'source "{ROOT}/scripts/lib.sh"; clear_stale_lock dev'], cwd=b.dir,
                              env=b.environ("dev"), capture_output=True, text=True, timeout=120)
        assert kept.returncode == 0 and "cancelling" not in kept.stderr and team.lock_keys(), kept.stderr
        second = b.pulumi("up", "--yes", "-s", "dev", check=False)
        assert second.returncode != 0 and LOCK_ERROR in second.stdout + second.stderr, explain(second)
        assert slow.wait(timeout=240) == 0, log.read_text()
    finally:
        if slow.poll() is None:
            os.killpg(slow.pid, signal.SIGKILL)
    assert not team.lock_keys()
    out = a.outputs()
    assert out["web_release"] == rid(V2) and out["web_kept_releases"] == [rid(V1)]
    assert len(a.updates()) == before + 1  # the refused up wrote nothing
    # Nothing lost: B's checkout predates A's release, so B may not deploy it away.
    refused = b.ops("guard", "dev")
    assert refused.returncode == 3, explain(refused)
    assert f"web {rid(V2)}" in refused.stderr and "does not contain what stack 'dev' runs" in refused.stderr
    check = subprocess.run([sys.executable, "-m", "immutable_infra.ops", "-C", str(b.dir), "check-ledger", "dev"],
                           env=b.environ("dev"), capture_output=True, text=True, timeout=120)
    assert check.returncode == 3, check.stdout + check.stderr


def test_two_prs_appending_to_one_ledger_conflict_and_a_bad_merge_is_refused(team: Team) -> None:
    a, b = team.a, team.b
    b.append(B1)  # B's pull request, branched before A's merge
    b.git("commit", "-q", "-am", "web b1 (pull request B)")
    merge = b.git("pull", "--no-rebase", "-q", "origin", "main", check=False)
    assert merge.returncode != 0 and "CONFLICT" in merge.stdout + merge.stderr, merge.stdout + merge.stderr
    assert "Pulumi.dev.yaml" in b.git("diff", "--name-only", "--diff-filter=U").stdout
    # A wrong resolution ("keep mine") drops A's release: immutable-ops refuses to go on.
    b.git("checkout", "--ours", "Pulumi.dev.yaml")
    b.git("commit", "-q", "-am", "merge main (dropped A's entry)")
    assert [e["artifact"] for e in b.ledger()["web"]["releases"]] == [V1, B1]
    refused = b.ops("guard", "dev")
    assert refused.returncode == 3 and f"web {rid(V2)}" in refused.stderr, explain(refused)
    # The right resolution keeps both entries; then B deploys its release.
    b.pulumi("config", "set", "--path", "immutable:ledger.web.releases[1].artifact", V2, "-s", "dev")
    b.pulumi("config", "set", "--path", "immutable:ledger.web.releases[2].artifact", B1, "-s", "dev")
    b.git("commit", "-q", "-am", "keep both releases")
    ok = b.ops("guard", "dev")
    assert ok.returncode == 0, explain(ok)
    b.pulumi("up", "--yes", "-s", "dev", "-m", "B: web b1")
    b.git("push", "-q", "origin", "HEAD:main")
    out = b.outputs()
    assert out["web_release"] == rid(B1) and out["web_kept_releases"] == [rid(V2)]
    a.git("pull", "-q", "--no-rebase", "origin", "main")
    assert [e["artifact"] for e in a.ledger()["web"]["releases"]] == [V1, V2, B1]


def test_a_killed_up_leaves_a_lock_that_cancel_clears(team: Team) -> None:
    a, b = team.a, team.b
    log = team.tmp / "up-killed.log"
    doomed = b.start_up("dev", sleep=120, log=log)
    try:
        team.wait_for_lock(doomed, log)
        time.sleep(2)  # inside the program: the update has started
    finally:
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=30)
    assert len(team.lock_keys()) == 1
    blocked = a.pulumi("up", "--yes", "-s", "dev", check=False)
    assert blocked.returncode != 0 and LOCK_ERROR in blocked.stdout + blocked.stderr, explain(blocked)
    stale = subprocess.run([sys.executable, "-m", "immutable_infra.ops", "stale-lock", "dev"], cwd=a.dir,
                           env=a.environ("dev"), capture_output=True, text=True, timeout=60)
    assert f".pulumi/locks/organization/{PROJECT}/dev/" in stale.stdout
    assert stale.returncode == 0 and "(gone)" in stale.stdout, stale.stdout + stale.stderr
    # scripts/deploy.sh's step: `pulumi cancel` because the lock's process (this host) is gone.
    cleared = subprocess.run(["bash", "-c", f'source "{ROOT}/scripts/lib.sh"; clear_stale_lock dev'], cwd=a.dir,
                             env=a.environ("dev"), capture_output=True, text=True, timeout=120)
    assert cleared.returncode == 0 and "cancelling the stale lock" in cleared.stderr, cleared.stdout + cleared.stderr
    assert not team.lock_keys()
    a.pulumi("up", "--yes", "-s", "dev", "-m", "A: after the killed update")
    a.pulumi("preview", "--expect-no-changes", "-s", "dev")  # converged
    assert a.outputs()["web_release"] == rid(B1)


def test_history_and_rollback_through_the_bucket(team: Team) -> None:
    a, b = team.a, team.b
    history = a.ops_json("history", "dev")
    deployed = [r["release"] for r in history["releases"] if r["change"] == "deployed"]
    assert deployed == [rid(V1), rid(V2), rid(B1)]  # release ids: the checkpoints were read from the bucket
    result = a.ops_json("rollback", "dev", "--service", "web")
    assert (result["from"], result["to"]) == (rid(B1), rid(V2))
    assert result["changes"].get("create", 0) == 0 and result["changes"].get("delete", 0) == 0
    assert a.outputs()["web_release"] == rid(V2)
    a.git("commit", "-q", "-am", "rollback web")
    a.git("push", "-q", "origin", "main")
    b.git("pull", "-q", "--no-rebase", "origin", "main")
    rows = b.ops_json("history", "dev")["releases"]  # B sees A's rollback: one history for the team
    assert rows[-1]["change"] == "rolled back" and rows[-1]["release"] == rid(V2)


def test_drift_and_its_fix_on_the_shared_backend(team: Team) -> None:
    a = team.a
    world = json.loads(team.world.read_text())
    server = next(k for k, v in world.items() if v.get("image") == V2)
    world[server]["image"] = "patched-by-hand"
    team.world.write_text(json.dumps(world))
    found = a.ops("drift", "dev", "--format", "json")
    assert found.returncode == 5, explain(found)
    assert [d["name"] for d in json.loads(found.stdout)["drifted"]] == [f"web-{rid(V2)}"]
    fixed = a.ops("drift", "dev", "--fix", "--format", "json")
    assert fixed.returncode == 0, explain(fixed)
    assert json.loads(fixed.stdout)["fix"]["drifted_after"] == []


def test_promote_dev_to_test_with_its_own_passphrase_in_the_same_bucket(team: Team) -> None:
    a = team.a
    a.pulumi("up", "--yes", "-s", "test", stack="test")
    # Each stack's secrets open only with its own passphrase.
    wrong = subprocess.run([str(PULUMI), "config", "get", "fleet:token", "-s", "test", "--non-interactive"], cwd=a.dir,
                           env=a.environ("dev"), capture_output=True, text=True, timeout=120)
    assert wrong.returncode != 0 and TOKEN["test"] not in wrong.stdout
    assert a.pulumi("config", "get", "fleet:token", "-s", "test", stack="test").stdout.strip() == TOKEN["test"]
    promoted = a.ops_json("promote", "dev", "test", "--deploy", stack="test")  # test's passphrase only
    assert promoted["deployed"] and [p["source_release"] for p in promoted["promoted"]] == [rid(V2)]
    assert a.outputs("test")["web_release"] == a.outputs("dev")["web_release"] == rid(V2)
    salts = {s: yaml.safe_load((a.dir / f"Pulumi.{s}.yaml").read_text())["encryptionsalt"] for s in ("dev", "test")}
    assert salts["dev"] != salts["test"]


def test_no_secret_in_clear_in_any_object_of_the_bucket(team: Team) -> None:
    objects = team.moto.objects(BUCKET)
    assert len(objects) > 20
    checked = 0
    for key, raw in objects.items():
        text = gzip.decompress(raw) if key.endswith(".gz") else raw
        for stack, token in TOKEN.items():
            assert token.encode() not in text, f"{stack}'s secret in clear in s3://{BUCKET}/{key}"
        checked += 1
    state = json.loads(objects[f".pulumi/stacks/{PROJECT}/dev.json"])
    stack_resource = next(r for r in state["checkpoint"]["latest"]["resources"] if r["type"] == "pulumi:pulumi:Stack")
    assert "ciphertext" in stack_resource["outputs"]["token"]  # stored, encrypted
    assert checked == len(objects)
