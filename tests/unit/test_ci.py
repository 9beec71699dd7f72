""".ci/run, with every command it runs replaced by a stand-in that notes how it was called:
it starts a PostgreSQL cluster that `pg_lsclusters` shows down, leaves a running one alone,
copes without pg_lsclusters, and runs the tests with CI=true."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLUSTERS_HEADER = "Ver Cluster Port Status Owner    Data directory              Log file\n"


def stand_in(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def run_ci(
    tmp_path: Path, clusters: str | None, env: dict[str, str] | None = None
) -> tuple[int, list[str], str]:
    """Run .ci/run with stand-ins on PATH; its exit code, the calls noted, its stderr."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    note = f'echo "$(basename "$0") $*" >> {calls}'
    if clusters is not None:
        # pg_lsclusters prints its header unless told --no-header.
        header = CLUSTERS_HEADER.strip()
        stand_in(
            bin_dir,
            "pg_lsclusters",
            f'[ "$1" = --no-header ] || echo "{header}"\nprintf "%s" "{clusters}"',
        )
    stand_in(bin_dir, "pg_ctlcluster", note)
    stand_in(bin_dir, "make", f'{note}\necho "make sees CI=$CI" >> {calls}')
    stand_in(bin_dir, "chromium", "true")
    stand_in(bin_dir, "fc-list", 'echo "Noto Color Emoji"')
    # Only the stand-ins and the few tools the script itself uses: this machine's own
    # pg_lsclusters must not be found.
    for tool in ("dirname", "basename", "grep", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    bash = shutil.which("bash")
    assert bash
    base = {"PATH": str(bin_dir), **(env or {})}
    result = subprocess.run(  # noqa: S603 - the repository's own script
        [bash, str(ROOT / ".ci" / "run")],
        env=base,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    noted = calls.read_text().splitlines() if calls.exists() else []
    return result.returncode, noted, result.stderr


def test_a_cluster_that_is_down_is_started_before_the_tests(tmp_path: Path) -> None:
    clusters = (
        "15 main 5432 down postgres /var/lib/postgresql/15/main /var/log/x.log\n"
        "14 old 5433 online postgres /var/lib/postgresql/14/old /var/log/y.log\n"
    )
    code, calls, _ = run_ci(tmp_path, clusters)
    assert code == 0
    assert calls == [
        "pg_ctlcluster --skip-systemctl-redirect 15 main start",
        "make test",
        "make sees CI=true",
        "make test-browser",
        "make sees CI=true",
    ]


def test_a_running_cluster_is_left_alone(tmp_path: Path) -> None:
    clusters = "15 main 5432 online postgres /var/lib/postgresql/15/main /var/log/x.log\n"
    code, calls, _ = run_ci(tmp_path, clusters)
    assert code == 0 and calls[0] == "make test"


def test_without_pg_lsclusters_it_says_to_set_test_database_url(tmp_path: Path) -> None:
    code, calls, stderr = run_ci(tmp_path, None)
    assert code == 0 and calls[0] == "make test"
    assert "TEST_DATABASE_URL" in stderr


def test_a_given_server_and_ci_setting_are_kept(tmp_path: Path) -> None:
    clusters = "15 main 5432 down postgres /var/lib/postgresql/15/main /var/log/x.log\n"
    env = {"TEST_DATABASE_URL": "postgresql://ci@db/postgres", "CI": "1"}
    code, calls, stderr = run_ci(tmp_path, clusters, env)
    assert code == 0 and stderr == ""
    assert calls[:2] == ["make test", "make sees CI=1"]  # nothing local started


def test_ci_run_is_executable() -> None:
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
