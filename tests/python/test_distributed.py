"""ember.distributed, DDP and the launcher, with 2 and 4 ranks on loopback.

Each test starts `python -m ember.distributed.run` (or mpirun) in a
subprocess with a timeout; the workers in distributed_workers/ check their
results on every rank and exit non-zero on any mismatch. Skipped where
mpi4py or mpirun is missing (CI installs both)."""
import os
import shutil
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
WORKERS = os.path.join(HERE, "distributed_workers")
ROOT = os.path.dirname(os.path.dirname(HERE))

import ember.distributed as dist  # noqa: E402

if not dist.is_mpi_available():
    pytest.skip("mpi4py or its MPI library is missing (pip install 'ember[distributed]')", allow_module_level=True)
if shutil.which("mpirun") is None:
    pytest.skip("mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)", allow_module_level=True)

# Generous: two cores shared with other jobs.
JOB_LIMIT = 240


def _env(**extra):
    env = dict(os.environ)
    import ember
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(ember.__file__))] +
                                        [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["EMBER_DISTRIBUTED_TIMEOUT"] = "120"  # a hang fails the test with a message, not at the test's limit
    env.update(extra)
    return env


def launch(nproc, worker, *args, env=None, limit=JOB_LIMIT, launcher_args=()):
    cmd = [sys.executable, "-m", "ember.distributed.run", "--nproc-per-node", str(nproc), *launcher_args,
           os.path.join(WORKERS, worker), *args]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env or _env(), capture_output=True, text=True, timeout=limit)
    return proc, time.monotonic() - start


def last_line(proc):
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


@pytest.mark.parametrize("nproc", [2, 4])
def test_every_collective_and_dtype(nproc):
    proc, _ = launch(nproc, "collectives.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for r in range(nproc):
        assert f"rank {r}: collectives OK" in proc.stdout


@pytest.mark.parametrize("nproc", [2, 4])
def test_ddp_matches_single_process_training(nproc):
    proc, _ = launch(nproc, "ddp.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for r in range(nproc):
        assert f"rank {r}: DDP OK" in proc.stdout


DEADLINE = 20  # seconds, EMBER_DISTRIBUTED_TIMEOUT in the failure tests


@pytest.mark.parametrize("how, expect", [
    ("raise", "rank 1 raised ValueError: rank one gives up"),
    ("kill", "rank 1 was killed by SIGKILL"),
    ("exit", "rank 1 exited with code 3"),
    ("skip", "rank 1 had already exited"),
])
def test_a_failing_rank_ends_the_job_and_is_named(how, expect):
    proc, elapsed = launch(2, "failures.py", how, env=_env(EMBER_DISTRIBUTED_TIMEOUT=str(DEADLINE)))
    assert proc.returncode != 0
    line = last_line(proc)
    assert line.startswith("ember.distributed.run: the job failed:"), proc.stderr[-3000:]
    assert expect in line, line
    assert elapsed < DEADLINE + 30, elapsed
    assert "rank 0 finished" not in proc.stdout


def test_skipped_collective_message_names_collective_number_size_and_dtype():
    proc, _ = launch(2, "failures.py", "skip", env=_env(EMBER_DISTRIBUTED_TIMEOUT="5"))
    line = last_line(proc)
    assert "rank 0 raised DistributedTimeoutError: all_reduce #2(float64 tensor of shape [4] (32 bytes)" in line
    assert "deadline of 5 s" in line


def test_a_rank_that_stops_calling_collectives_is_named_by_its_peer():
    proc, elapsed = launch(2, "failures.py", "hang", env=_env(EMBER_DISTRIBUTED_TIMEOUT="5"))
    assert proc.returncode != 0
    assert elapsed < 5 + 30, elapsed
    line = last_line(proc)
    assert "rank 0 raised DistributedTimeoutError: all_reduce #2" in line, line
    assert "rank 1 is still at barrier #1" in line, line


def test_debug_mode_names_the_mismatched_calls():
    proc, elapsed = launch(2, "failures.py", "mismatch", env=_env(EMBER_DISTRIBUTED_DEBUG="1",
                                                                   EMBER_DISTRIBUTED_TIMEOUT="60"))
    assert proc.returncode != 0
    assert elapsed < 50, "the mismatch must be found at once, not at the deadline"
    assert ("EMBER_DISTRIBUTED_DEBUG: the ranks called different collectives (nothing was communicated): "
            "rank 0: all_reduce #2(float64 [4], op=SUM); rank 1: all_reduce #2(float32 [5], op=SUM)") in proc.stderr


def test_plain_mpirun_works():
    env = _env(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    script = ("import ember as torch, ember.distributed as dist\n"
              "dist.init_process_group('mpi')\n"
              "t = torch.ones(3) * (dist.get_rank() + 1); dist.all_reduce(t)\n"
              "assert t.tolist() == [3.0] * 3, t\n"
              "print(f'sum {dist.get_rank()} {dist.get_world_size()}', flush=True)\n")
    proc = subprocess.run(["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", sys.executable, "-c",
                           script], env=env, capture_output=True, text=True, timeout=JOB_LIMIT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sum 0 2" in proc.stdout and "sum 1 2" in proc.stdout


def test_asking_for_more_processes_than_started_is_an_error():
    code = ("import ember.distributed as dist\n"
            "try:\n    dist.init_process_group('gloo')\n"
            "except RuntimeError as e:\n    print('ERR', e)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=_env(WORLD_SIZE="2", RANK="0"), capture_output=True,
                          text=True, timeout=120)
    assert "ERR WORLD_SIZE asks for 2 processes but the job has 1" in proc.stdout, proc.stdout + proc.stderr
    assert "ember.distributed.run --nproc-per-node N" in proc.stdout


def test_launcher_sets_torchrun_environment_and_thread_counts(tmp_path):
    script = tmp_path / "env.py"
    # Each rank writes its own file: two ranks printing at once may interleave.
    script.write_text("import os, sys\nvalues = [os.environ[k] for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', "
                      "'LOCAL_WORLD_SIZE', 'OMP_NUM_THREADS')]\n"
                      "open(os.path.join(sys.argv[1], 'env-' + values[0]), 'w').write(' '.join(values))\n")
    env = _env()
    env.pop("OMP_NUM_THREADS", None)
    proc = subprocess.run([sys.executable, "-m", "ember.distributed.run", "--nproc_per_node=2", str(script),
                           str(tmp_path)], env=env, capture_output=True, text=True, timeout=JOB_LIMIT)
    assert proc.returncode == 0, proc.stderr
    threads = str(max(1, (os.cpu_count() or 1) // 2))
    assert (tmp_path / "env-0").read_text() == f"0 2 0 2 {threads}"
    assert (tmp_path / "env-1").read_text() == f"1 2 1 2 {threads}"


def test_launcher_rejects_bad_arguments():
    for args, message in ((["--nproc-per-node", "zero", "x.py"], "must be an integer"),
                          (["--nproc-per-node", "0", "x.py"], "at least 1"),
                          (["--nnodes", "2", "x.py"], "only single-node")):
        proc = subprocess.run([sys.executable, "-m", "ember.distributed.run", *args], env=_env(),
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_launcher_forwards_sigterm_and_ends_the_job(tmp_path):
    import signal
    script = tmp_path / "sleepy.py"
    script.write_text("import os, sys, time\nimport ember.distributed as dist\ndist.init_process_group('gloo')\n"
                      "dist.barrier()\nopen(os.path.join(sys.argv[1], 'ready-%d' % dist.get_rank()), 'w').close()\n"
                      "time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-m", "ember.distributed.run", "--nproc-per-node", "2", str(script),
                             str(tmp_path)], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + JOB_LIMIT
        while not all((tmp_path / f"ready-{r}").exists() for r in range(2)):
            assert time.monotonic() < deadline and proc.poll() is None, "the ranks did not start"
            time.sleep(0.2)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert time.monotonic() - start < 30
        assert proc.returncode != 0
        assert "ember.distributed.run: the job failed:" in err.strip().splitlines()[-1], err[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
