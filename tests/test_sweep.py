import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

from snn_tha import sweep
from snn_tha.config import ConfigError
from snn_tha.data.fixtures import write_torchvision_layout

SPACE = "configs/sweeps/fmnist_annealing.yaml"
WORKER_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def data_dir(tmp_path):
    write_torchvision_layout(tmp_path / "data", "fashion_mnist", n_train=200, n_test=20)
    return tmp_path / "data"


def worker(storage, study, i, out, *extra):
    trials = Path(out.name).parent / "trials"   # never the repository's results/
    return subprocess.Popen([sys.executable, "-m", "snn_tha.cli", "sweep", "work", "--study", study,
                             "--storage", storage, "--worker-id", str(i), "--trials-dir",
                             str(trials), *extra],
                            env=WORKER_ENV, cwd=Path.cwd(), stdout=out, stderr=subprocess.STDOUT)


def states(study):
    counts = {}
    for t in study.trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def test_all_sixteen_spaces_load():
    paths = sorted(Path("configs/sweeps").glob("*.yaml"))
    assert len(paths) == 16
    for path in paths:
        space = sweep.load_space(path)
        assert space.config_path.is_file() and "optim.lr" in space.params
        sweep.trial_config(space, "smoke", [])


def test_sampled_annealing_overrides_keep_theta_inf_above_theta0():
    space = sweep.load_space(SPACE)
    base = sweep.trial_config(space, "smoke", [])
    trial = optuna.trial.FixedTrial({**{k: 0.5 for k in space.params}, "optim.lr": 1e-3,
                                     "optim.grad_clip": None, "optim.weight_clip": 1.0,
                                     "net.batch_norm": True, "annealing.theta0.1": 3.0,
                                     "annealing.delta.1": 2.5})
    overrides = sweep.sample_overrides(trial, space, base)
    assert "annealing.theta_inf.1=5.5" in overrides and "optim.grad_clip=null" in overrides
    cfg = sweep.trial_config(space, "smoke", overrides)
    assert cfg.annealing.theta_inf[1] == 5.5 and cfg.optim.grad_clip is None
    assert cfg.track_test is False and cfg.protocol == "validation"


def test_init_twice_is_an_error(tmp_path, data_dir):
    storage = str(tmp_path / "s.journal")
    sweep.init(SPACE, storage, "st", 3, "smoke", overrides=[f"data.data_dir={data_dir}"])
    with pytest.raises(ConfigError, match="study 'st' already exists"):
        sweep.init(SPACE, storage, "st", 3, "smoke")


def test_four_processes_share_a_local_journal_budget(tmp_path, data_dir):
    storage = str(tmp_path / "sweep.journal")
    sweep.init(SPACE, storage, "local", 20, "smoke",
               overrides=[f"data.data_dir={data_dir}", "data.validation_size=20"])
    log = open(tmp_path / "workers.log", "w")
    procs = [worker(storage, "local", i, log, "--heartbeat", "1") for i in range(4)]
    assert [p.wait(timeout=600) for p in procs] == [0, 0, 0, 0], (tmp_path / "workers.log").read_text()
    study = optuna.load_study(study_name="local", storage=sweep.open_storage(storage))
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 20 and "RUNNING" not in states(study)
    assert all(t.user_attrs.get("over_budget") for t in study.trials if t.state.name != "COMPLETE")
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 20
    assert len({t.user_attrs["worker_pid"] for t in complete}) > 1     # really shared
    # export: a tuned config that loads and trains as is, trials CSV, plots, tables
    written = sweep.export(storage, "local", configs_dir=tmp_path / "tuned", out_dir=tmp_path / "sw",
                           tables_path=tmp_path / "hyperparameters.md")
    assert {p.name for p in written} >= {"fmnist_annealing.yaml", "trials.csv", "history.png",
                                         "importance.png", "summary.json", "hyperparameters.md"}
    from snn_tha import schema
    tuned = schema.load(tmp_path / "tuned" / "fmnist_annealing.yaml")
    assert tuned.optim.lr == study.best_params["optim.lr"]
    assert "| optim.lr | 0.00084 |" in (tmp_path / "hyperparameters.md").read_text()


def test_sigterm_fails_the_trial_cleanly(tmp_path, data_dir):
    storage = str(tmp_path / "sweep.journal")
    sweep.init(SPACE, storage, "term", 50, "smoke",
               overrides=[f"data.data_dir={data_dir}", "data.validation_size=20",
                          "num_steps=100", "max_batches_per_epoch=50"])
    log = open(tmp_path / "w.log", "w")
    proc = worker(storage, "term", 0, log)
    study = optuna.load_study(study_name="term", storage=sweep.open_storage(storage))
    deadline = time.time() + 120
    while not any(t.state.name == "RUNNING" for t in study.trials) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    assert states(study).get("RUNNING", 0) == 0 and states(study)["FAIL"] >= 1


# ---- PostgreSQL: many machines ------------------------------------------------------------

def _pg_bin():
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture
def postgres(tmp_path):
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql); "
                    ".ci/run installs it so CI runs this test")
    import tempfile
    as_user = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
    # PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user, in
    # a folder it can reach (pytest's temp tree is root-only)
    data = Path(tempfile.mkdtemp(prefix="snn-tha-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "--auth=trust",
                    "-U", "postgres"], check=True, capture_output=True)
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l",
                    str(data / "log"), "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
                    "start"], check=True, capture_output=True)
    try:
        subprocess.run([*as_user, str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                        "-U", "postgres", "optuna"], check=True, capture_output=True)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/optuna"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def test_postgres_killed_worker_trial_fails_and_is_retried(tmp_path, data_dir, postgres):
    budget = 8
    sweep.init(SPACE, postgres, "pg", budget, "smoke",
               overrides=[f"data.data_dir={data_dir}", "data.validation_size=20",
                          "num_steps=100", "max_batches_per_epoch=4"])
    log = open(tmp_path / "workers.log", "w")
    procs = [worker(postgres, "pg", i, log, "--heartbeat", "1", "--grace", "3") for i in range(4)]
    study = optuna.load_study(study_name="pg", storage=sweep.open_storage(postgres))
    victim, killed_trial, deadline = procs[0], None, time.time() + 300
    while killed_trial is None and time.time() < deadline:
        for t in study.get_trials(deepcopy=False):
            if t.state.name == "RUNNING" and t.user_attrs.get("worker_pid") == victim.pid:
                victim.send_signal(signal.SIGKILL)
                killed_trial = t.number
        time.sleep(0.05)
    assert killed_trial is not None, "the victim never ran a trial"
    assert [p.wait(timeout=600) for p in procs[1:]] == [0, 0, 0], (tmp_path / "workers.log").read_text()
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == budget and "RUNNING" not in states(study)
    assert trials[killed_trial].state.name == "FAIL"
    retried = [t for t in complete if optuna.storages.RetryHeartbeatStaleTrialCallback
               .retried_trial_number(t) == killed_trial]
    assert len(retried) == 1   # re-queued once, keeping what the killed trial had sampled
    assert all(retried[0].params[k] == v for k, v in trials[killed_trial].params.items())
