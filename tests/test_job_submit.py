"""`ray job submit` of the main job against a head node this test starts on loopback (and stops: only
its own processes), with Ray's token authentication on."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import free_port

REPO = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).parent / "ray")


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """A Ray head on 127.0.0.1 in its own process group; torn down by killing exactly that process tree."""
    port, dashboard = free_port(), free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    proc = subprocess.Popen(
        [RAY, "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", "--num-cpus=2", "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    address = f"http://127.0.0.1:{dashboard}"
    deadline = time.time() + 120
    while time.time() < deadline:
        ready = subprocess.run([RAY, "job", "list", "--address", address], env=env, capture_output=True, text=True)
        if ready.returncode == 0:
            break
        time.sleep(2)
    else:
        pytest.fail(f"Ray head on {address} did not come up: {ready.stderr[-2000:]}")
    yield address, env
    tree = [proc, *psutil.Process(proc.pid).children(recursive=True)]
    for p in tree:
        with contextlib.suppress(psutil.NoSuchProcess):  # already exited with its parent
            p.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs([psutil.Process(p.pid) for p in tree if psutil.pid_exists(p.pid)], timeout=20)
    for p in alive:
        p.kill()


def submit(address, env, entrypoint: list[str], working_dir: Path) -> str:
    done = subprocess.run(
        [RAY, "job", "submit", "--address", address, "--working-dir", str(working_dir), "--", *entrypoint],
        env=env, capture_output=True, text=True, timeout=600,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "succeeded" in out, out[-4000:]
    return out


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory):
    """The tracked repository at another path, so imports must come from what Ray ships, not this checkout."""
    dest = tmp_path_factory.mktemp("shipped") / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True).stdout
    for rel in files.split():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    return dest


def test_job_driver_and_workers_import_the_shipped_packages(head, shipped_copy):
    probe = (
        "import ray, vla_ray, envs; ray.init(); "
        "where = ray.get(ray.remote(lambda: __import__('envs').__file__ + ' ' + __import__('vla_ray').__file__).remote()); "
        "print('driver', vla_ray.__file__, envs.__file__); print('worker', where)"
    )
    out = submit(*head, ["python", "-c", probe], shipped_copy)
    lines = [line for line in out.splitlines() if line.startswith(("driver ", "worker "))]
    assert len(lines) == 2
    for line in lines:
        assert "working_dir_files" in line and str(REPO) not in line, line


def test_main_job_runs_unchanged_through_ray_job_submit(head, shipped_copy, tmp_path):
    out = submit(*head, [
        "python", "experiments/humanoid_curriculum.py", "--env-runners", "1", "--envs-per-runner", "4",
        "--rollout-fragment", "32", "--minibatch-size", "64", "--env-steps", "128", "--episode-length-s", "1",
        "--eval-episodes", "0", "--run-dir", str(tmp_path / "run"), "--mlflow-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
    ], shipped_copy)
    assert "it    1 | stage 0 stand" in out and "final checkpoint" in out
    assert (tmp_path / "run" / "LATEST").is_file()
