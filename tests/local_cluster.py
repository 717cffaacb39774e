"""Real Ray nodes on loopback for tests: `ray start` processes in their own process groups, token auth on,
torn down by stopping exactly the process trees the test started (never `ray stop`, which would stop every
Ray on the machine)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from conftest import free_port

REPO = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).parent / "ray")
AUTH_ENV = {**os.environ, "RAY_AUTH_MODE": "token"}


class LocalCluster:
    """A head node (plus any nodes added) started with `ray start --block`."""

    HEAD_ATTEMPTS = 2  # a head whose ports were taken between free_port() and its bind never comes up: retry

    def __init__(self, num_cpus: int):
        self.env = dict(AUTH_ENV)
        self.procs: list[subprocess.Popen] = []
        self.temp_dirs: list[str] = []
        self.logs: list[Path] = []
        for _ in range(self.HEAD_ATTEMPTS):
            if self._start_head(num_cpus):
                return
            failure = f"{self.ready_error[-1500:]}\n`ray start` said: {self.logs[-1].read_text()[-1500:]}"
            self.stop()
            self.procs = []
        raise RuntimeError(f"Ray head on {self.address} did not come up in {self.HEAD_ATTEMPTS} attempts: {failure}")

    def _start_head(self, num_cpus: int) -> bool:
        """Start a head on fresh ports; True once its jobs API answers."""
        self.port, dashboard = free_port(), free_port()
        self.address = f"http://127.0.0.1:{dashboard}"  # the jobs API
        self.gcs = f"127.0.0.1:{self.port}"
        self._start(["--head", f"--port={self.port}", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
                     f"--num-cpus={num_cpus}"])
        deadline = time.time() + 90
        while time.time() < deadline:
            ready = self.ray("job", "list", check=False)
            if ready.returncode == 0:
                return True
            if self.procs[-1].poll() is not None:  # `ray start --block` exited: this head is gone
                break
            time.sleep(2)
        self.ready_error = ready.stderr
        return False

    def _start(self, args: list[str]) -> None:
        # Every port a node would otherwise take at a fixed default (its dashboard agent's 52365 above all) is a
        # free one: another Ray on this machine (the test session's own) would hold the default, and a node whose
        # agent cannot bind takes no jobs ("No available agent to submit job").
        ports = [f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
                 f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}"]
        if "--head" in args:
            ports.append(f"--ray-client-server-port={free_port()}")
        log_dir = tempfile.mkdtemp(prefix="ray-start-", dir="/tmp")
        self.temp_dirs.append(log_dir)
        self.logs.append(Path(log_dir) / "ray_start.log")
        with self.logs[-1].open("w") as log:  # read back when a node does not come up
            self.procs.append(subprocess.Popen(
                [RAY, "start", "--block", "--node-ip-address=127.0.0.1", "--disable-usage-stats", *ports, *args],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            ))

    def add_node(self, num_cpus: int, resources: dict) -> str:
        """Start a second raylet joining the head; returns its node id once the cluster lists it."""
        deadline = time.time() + 60
        # The head must be listed first, or it would be taken for the new node below.
        while not (known := {n["node_id"] for n in self.nodes()}) and time.time() < deadline:
            time.sleep(1)
        if not known:
            raise RuntimeError("the head node was never listed")
        # Its own temp dir: two raylets on one machine would otherwise share (and garbage-collect) each other's
        # unpacked job working directories. Short, because Ray's Unix socket paths live under it.
        temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
        self.temp_dirs.append(temp_dir)
        self._start([f"--address={self.gcs}", f"--num-cpus={num_cpus}", f"--resources={json.dumps(resources)}",
                     f"--temp-dir={temp_dir}"])
        deadline = time.time() + 120
        while time.time() < deadline:
            new = [n for n in self.nodes() if n["node_id"] not in known and n["state"] == "ALIVE"]
            if new:
                return new[0]["node_id"]
            time.sleep(2)
        raise RuntimeError("the second Ray node did not join")

    def nodes(self) -> list[dict]:
        out = self.ray("list", "nodes", "--format", "json").stdout
        # Before the head's raylet registers, the state API answers with this text instead of an empty list.
        return [] if out.strip() == "No resource in the cluster" else json.loads(out)

    def ray(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        """A two-word `ray` CLI command (`job submit`, `list nodes`, ...) against this cluster's dashboard."""
        done = subprocess.run([RAY, *args[:2], "--address", self.address, *args[2:]], env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"ray {' '.join(args)} failed: {(done.stdout + done.stderr)[-4000:]}")
        return done

    def submit(self, entrypoint: list[str], working_dir: Path, *options: str) -> str:
        done = self.ray("job", "submit", "--working-dir", str(working_dir), *options, "--", *entrypoint, check=False)
        out = done.stdout + done.stderr
        assert done.returncode == 0 and ("succeeded" in out or "--no-wait" in options), out[-4000:]
        return out

    def stop(self) -> None:
        tree = []
        for proc in self.procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                tree += [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        for p in tree:
            with contextlib.suppress(psutil.NoSuchProcess):  # already exited with its parent
                p.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(tree, timeout=20)
        for p in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        for temp_dir in self.temp_dirs:
            shutil.rmtree(temp_dir, ignore_errors=True)


def kill_tree(pid: int) -> None:
    """SIGKILL a process and everything it started (an in-process Ray included): a crash, not a shutdown."""
    root = psutil.Process(pid)
    tree = [root, *root.children(recursive=True)]
    for p in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(tree, timeout=30)


def shipped_copy(dest: Path) -> Path:
    """The tracked repository at another path, so imports must come from what Ray ships, not this checkout."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True).stdout
    for rel in files.split():
        if (REPO / rel).is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, target)
    return dest
