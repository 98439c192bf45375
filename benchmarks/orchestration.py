"""Orchestration cost: what a run launched by a sensor or schedule costs beyond its own work, and
the CPU the whole deployment spends per hour under ``dagster dev``.

    .venv/bin/python benchmarks/orchestration.py                    # 5 runs of each job per executor
    .venv/bin/python benchmarks/orchestration.py --quick            # 1 run of each job (under a minute)
    .venv/bin/python benchmarks/orchestration.py --burst            # the three jobs launched together, 5 times
    .venv/bin/python benchmarks/orchestration.py --dev-window 600   # dagster dev, every schedule and sensor on, 10 min
    .venv/bin/python benchmarks/orchestration.py --dev-window 600 --code-root /tmp/before   # the same for another checkout

**Per run** (default): for each executor (``multiprocess``, Dagster's default and this project's
choice before; ``in_process``, its choice now), ``dagster-daemon run`` is started on a fresh
instance configured by the repository's dagster.yaml and a fresh SQLite warehouse, with the
code location in ``benchmarks/orchestration_location.py``: a sensor there launches, one after
another, ``empty_job`` (one step that does nothing: the floor), ``sessions_job`` (one real
step) and ``ingest_job`` (two real steps), as this project's sensors launch runs (queued, then
dequeued and started by the default launcher in a fresh process, which imports the whole code
location ``analytics_pipeline.definitions`` first, as the project's run workers do;
``--bench-location`` skips that import). ``--burst`` launches the three together instead (one
tick, as schedules with the same cron do), so each waits for the launches dequeued with it.
Bytecode is cached as in any installation: a ``PYTHONDONTWRITEBYTECODE`` of the caller is not
passed on (every run worker would compile the project's modules again). From each run's own events:

* queue: created -> launched (the run queue's dequeue interval);
* start: launched -> the run worker says RUN_START (process start, imports);
* steps: the time inside the steps' compute functions;
* total: created -> RUN_SUCCESS; overhead = total - steps;
* CPU: user + system seconds of the processes the run started (sampled from /proc every 50 ms;
  with ``--burst`` every process started while the run was in progress, so the other runs' too).

**Under dagster dev** (``--dev-window``): ``dagster dev`` on a fresh home and data directory
with every schedule and sensor in their default state (all on) for the window; the CPU of every
process it starts (webserver, daemon, code server, runs) is sampled from /proc and scaled to an
hour. ``--code-root`` runs another checkout's package and dagster.yaml (e.g. ``git archive main``
unpacked in /tmp) for a before/after comparison.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
JOBS = ["empty_job", "sessions_job", "ingest_job"]


def _boot_time() -> float:
    """The boot time in epoch seconds, to 10 ms (``/proc/uptime``; ``btime`` in /proc/stat is
    whole seconds, enough to misplace a process that starts within a second of its run)."""
    return time.time() - float(Path("/proc/uptime").read_text().split()[0])


BOOT = _boot_time()


@dataclass
class Proc:
    pid: int
    started: float  # epoch seconds
    cpu: float  # user + system seconds, last sample
    cmd: str


@dataclass
class SessionSampler:
    """Samples CPU of every process in one session (the process group a command starts)."""

    session: int
    interval: float = 0.05
    procs: dict[tuple[int, float], Proc] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                fields = stat.rsplit(")", 1)[1].split()
                if int(fields[3]) != self.session:  # field 6 of stat: session id
                    continue
                cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
                started = BOOT + int(fields[19]) / CLOCK_TICKS
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            key = (int(entry.name), started)
            self.procs[key] = Proc(int(entry.name), started, cpu, cmd)

    def run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> SessionSampler:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def total_cpu(self) -> float:
        return sum(p.cpu for p in self.procs.values())


def stop_session(proc: subprocess.Popen) -> None:
    """SIGTERM the whole process group, then SIGKILL what is left."""
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def fresh_home(root: Path, dagster_yaml: Path) -> tuple[Path, dict[str, str]]:
    home, data = root / "dagster_home", root / "data"
    home.mkdir(parents=True)
    (data / "landing").mkdir(parents=True)
    shutil.copy(dagster_yaml, home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANALYTICS_", "DAGSTER_")) and k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"DAGSTER_HOME": str(home), "ANALYTICS_DATA_DIR": str(data), "ANALYTICS_START_DATE": "2024-01-01"})
    return home, env


# -- per run ------------------------------------------------------------------------------------
@dataclass
class RunCost:
    job: str
    queue: float
    start: float
    steps: float
    total: float
    cpu: float

    @property
    def overhead(self) -> float:
        return self.total - self.steps


def _run_costs(home: Path, sampler: SessionSampler, skip_first: int) -> list[RunCost]:
    import dagster as dg
    from dagster._core.events import DagsterEventType

    costs = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = sorted(instance.get_run_records(), key=lambda r: r.create_timestamp)
        for record in records[skip_first:]:
            run = record.dagster_run
            if run.status != dg.DagsterRunStatus.SUCCESS:
                raise RuntimeError(f"benchmark run {run.run_id} of {run.job_name} ended {run.status}")
            events = [r.event_log_entry for r in instance.get_records_for_run(run.run_id).records]
            first = {}
            for entry in events:
                if entry.dagster_event is not None:
                    first.setdefault(entry.dagster_event.event_type, entry.timestamp)
            step_start: dict[str, float] = {}
            steps = 0.0
            for entry in events:
                event = entry.dagster_event
                if event is None or not event.step_key:
                    continue
                if event.event_type == DagsterEventType.STEP_START:
                    step_start[event.step_key] = entry.timestamp
                elif event.event_type == DagsterEventType.STEP_SUCCESS:
                    steps += entry.timestamp - step_start[event.step_key]
            created = record.create_timestamp.timestamp()
            launched = first.get(DagsterEventType.RUN_STARTING, created)
            end = first[DagsterEventType.RUN_SUCCESS]
            cpu = sum(p.cpu for p in sampler.procs.values() if created - 0.05 <= p.started <= end)
            costs.append(RunCost(run.job_name, launched - created, first[DagsterEventType.RUN_START] - launched,
                                 steps, end - created, cpu))
    return costs


def measure_runs(executor: str, per_job: int, root: Path, burst: bool = False, location: str = "full") -> list[RunCost]:
    home, env = fresh_home(root / executor, REPO / "dagster.yaml")
    # first run: warm-up (migrations, bytecode caches)
    plan = ["sessions_job"] + (["+".join(JOBS)] * per_job if burst else [job for _ in range(per_job) for job in JOBS])
    runs = sum(len(group.split("+")) for group in plan)
    env.update({"ANALYTICS_BENCH_EXECUTOR": executor, "ANALYTICS_BENCH_PLAN": ",".join(plan),
                "ANALYTICS_BENCH_LOCATION": location})
    workspace = root / executor / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_file": {
        "relative_path": str(REPO / "benchmarks" / "orchestration_location.py"),
        "working_directory": str(REPO), "location_name": "bench"}}]}))
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)):
        pass  # the instance's SQLite storage created here, not by the daemon and this process at once
    log = (root / executor / "daemon.log").open("w")
    daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env=env, cwd=REPO,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with SessionSampler(daemon.pid) as sampler:
            deadline = time.monotonic() + 120 + 30 * runs
            with dg.DagsterInstance.from_config(str(home)) as instance:
                while True:
                    done = instance.get_runs_count(dg.RunsFilter(statuses=[
                        dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]))
                    if done >= runs:
                        break
                    if time.monotonic() > deadline or daemon.poll() is not None:
                        raise RuntimeError(f"{executor}: {done}/{runs} runs finished; see {log.name}")
                    time.sleep(0.5)
        return _run_costs(home, sampler, skip_first=1)
    finally:
        stop_session(daemon)
        log.close()


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def print_runs_table(results: dict[str, list[RunCost]]) -> None:
    header = (f"{'executor':<13}{'job':<14}{'runs':>5}{'queue s':>9}{'start s':>9}{'steps s':>9}"
              f"{'total s':>9}{'overhead s':>12}{'over floor s':>14}{'CPU s/run':>11}")
    print(header)
    print("-" * len(header))
    for executor, costs in results.items():
        floor = _mean([c.overhead for c in costs if c.job == "empty_job"])
        for job in JOBS:
            mine = [c for c in costs if c.job == job]
            overhead = _mean([c.overhead for c in mine])
            print(f"{executor:<13}{job:<14}{len(mine):>5}{_mean([c.queue for c in mine]):>9.2f}"
                  f"{_mean([c.start for c in mine]):>9.2f}{_mean([c.steps for c in mine]):>9.2f}"
                  f"{_mean([c.total for c in mine]):>9.2f}{overhead:>12.2f}{overhead - floor:>14.2f}"
                  f"{_mean([c.cpu for c in mine]):>11.2f}")
    print("\noverhead = created -> RUN_SUCCESS minus the time inside step compute; floor = empty_job "
          "on the same executor; CPU = processes started for the run (run worker and step processes).")


# -- under dagster dev ------------------------------------------------------------------------------
def measure_dev(window: float, code_root: Path, root: Path) -> None:
    home, env = fresh_home(root / "dev", code_root / "dagster.yaml")
    env["PYTHONPATH"] = str(code_root)  # the package of the checkout measured, before the installed one
    log = (root / "dev" / "dagster-dev.log").open("w")
    port = _free_port()
    dev = subprocess.Popen([str(BIN / "dagster"), "dev", "-m", "analytics_pipeline.definitions", "-h", "127.0.0.1",
                            "-p", str(port)], env=env, cwd=code_root, stdout=log, stderr=subprocess.STDOUT,
                           start_new_session=True)
    try:
        with SessionSampler(dev.pid, interval=0.1) as sampler:
            time.sleep(30)  # start-up is not steady state
            sampler.sample()
            at_start = {k: p.cpu for k, p in sampler.procs.items()}
            began = time.monotonic()
            time.sleep(window)
            sampler.sample()
            elapsed = time.monotonic() - began
        used = sum(p.cpu - at_start.get(k, 0.0) for k, p in sampler.procs.items())
        import dagster as dg

        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = [r for r in instance.get_run_records() if r.create_timestamp.timestamp() >= time.time() - elapsed - 5]
        by_job: dict[str, int] = {}
        for record in runs:
            by_job[record.dagster_run.job_name] = by_job.get(record.dagster_run.job_name, 0) + 1
        scale = 3600 / elapsed
        print(f"code root: {code_root}")
        print(f"{'window s':>9}{'CPU s':>9}{'CPU s/hour':>12}{'cores':>7}{'runs':>6}{'runs/hour':>11}")
        print(f"{elapsed:>9.0f}{used:>9.1f}{used * scale:>12.0f}{used / elapsed:>7.3f}{len(runs):>6}"
              f"{len(runs) * scale:>11.0f}")
        print("runs in the window: " + ", ".join(f"{job} {n}" for job, n in sorted(by_job.items())))
        unfinished = [f"{r.dagster_run.job_name} {r.dagster_run.status.value}" for r in runs
                      if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
        print("runs not (yet) successful: " + (", ".join(unfinished) if unfinished else "none"))
        print(f"(CPU of every process dagster dev started, after 30 s of start-up; scaled to an hour "
              f"from {elapsed:.0f} s)")
    finally:
        stop_session(dev)
        log.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 run of each job per executor")
    parser.add_argument("--runs", type=int, default=5, help="runs of each job per executor (default 5)")
    parser.add_argument("--executors", default="multiprocess,in_process")
    parser.add_argument("--burst", action="store_true", help="launch the three jobs together (one tick)")
    parser.add_argument("--bench-location", action="store_true",
                        help="run workers load only the benchmark's jobs, not the whole code location")
    parser.add_argument("--dev-window", type=float, default=0,
                        help="instead: seconds of dagster dev with every schedule and sensor on")
    parser.add_argument("--code-root", type=Path, default=REPO, help="checkout measured by --dev-window")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_orchestration_"))
    try:
        if args.dev_window:
            measure_dev(args.dev_window, args.code_root.resolve(), root)
            return 0
        per_job = 1 if args.quick else args.runs
        location = "bench" if args.bench_location else "full"
        results = {e: measure_runs(e, per_job, root, burst=args.burst, location=location)
                   for e in args.executors.split(",")}
        print(f"runs launched {'together (burst)' if args.burst else 'one after another'}; run workers load "
              f"{'the benchmark jobs only' if args.bench_location else 'the whole code location'}\n")
        print_runs_table(results)
        return 0
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
