import json
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

from snn_tha.repro.sweep import report as sweep_report, study as sweep
from snn_tha.repro.yaml_config import ConfigError
from snn_tha.repro.data.fixtures import write_torchvision_layout

SPACE = "configs/sweeps/fmnist_annealing.yaml"
WORKER_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def data_dir(tmp_path):
    write_torchvision_layout(tmp_path / "data", "fashion_mnist", n_train=200, n_test=20)
    return tmp_path / "data"


def worker(storage, study, i, out, *extra):
    trials = Path(out.name).parent / "trials"   # never the repository's results/
    return subprocess.Popen([sys.executable, "-m", "snn_tha.repro.cli", "sweep", "work", "--study", study,
                             "--storage", storage, "--worker-id", str(i), "--trials-dir",
                             str(trials), *extra],
                            env=WORKER_ENV, cwd=Path.cwd(), stdout=out, stderr=subprocess.STDOUT)


def states(study):
    counts = {}
    for t in study.trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def test_all_sixteen_spaces_load():
    spaces = sorted(Path("configs/sweeps").glob("*.yaml"))
    assert len(spaces) == 16
    for path in spaces:
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
    # thresholds are multiples of the membrane scale: batch norm (sigma 1), beta 0.5, T = 5
    # (smoke): s = (1 - 0.5^5) / (1 - 0.5) = 1.9375; theta0 = 3 s, theta_inf = (3 + 2.5) s
    assert "annealing.theta0.1=5.8125" in overrides
    assert "annealing.theta_inf.1=10.65625" in overrides and "optim.grad_clip=null" in overrides
    cfg = sweep.trial_config(space, "smoke", overrides)
    assert cfg.annealing.theta_inf[1] == 10.65625 and cfg.optim.grad_clip is None
    assert cfg.track_test is False and cfg.protocol == "validation"


def test_init_twice_is_an_error(tmp_path, data_dir):
    storage = str(tmp_path / "s.journal")
    sweep.init(SPACE, storage, "st", 3, "smoke", overrides=[f"data.data_dir={data_dir}"])
    with pytest.raises(ConfigError, match="study 'st' already exists"):
        sweep.init(SPACE, storage, "st", 3, "smoke")


def test_four_processes_share_a_local_journal_budget(tmp_path, data_dir):
    """With dead-network and median pruning on (the defaults plus --prune median)."""
    storage = str(tmp_path / "sweep.journal")
    sweep.init(SPACE, storage, "local", 20, "smoke", prune="median", dead_batches=1,
               overrides=[f"data.data_dir={data_dir}", "data.validation_size=20"])
    log = open(tmp_path / "workers.log", "w")
    procs = [worker(storage, "local", i, log, "--heartbeat", "1") for i in range(4)]
    assert [p.wait(timeout=600) for p in procs] == [0, 0, 0, 0], (tmp_path / "workers.log").read_text()
    study = optuna.load_study(study_name="local", storage=sweep.open_storage(storage))
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 20 and "RUNNING" not in states(study)
    assert all(t.user_attrs.get("over_budget") for t in study.trials if t not in finished)
    assert all(t.user_attrs.get("pruned_reason") for t in finished if t.state.name == "PRUNED")
    assert study.trials[0].user_attrs.get("warm_start") == "release"   # the published values first
    assert len({tuple(sorted(t.params.items())) for t in finished}) == 20
    assert len({t.user_attrs["worker_pid"] for t in finished}) > 1     # really shared
    counts = sweep_report.trial_counts(study)
    assert counts["complete"] + counts["pruned_dead"] + counts["pruned_fidelity"] == 20
    complete = [t for t in finished if t.state.name == "COMPLETE"]
    if not complete:
        pytest.skip("every trial was pruned on this tiny data: test_export_of_a_finished_sweep "
                    "tests the export")
    written = sweep_report.export_study(storage, "local", configs_dir=tmp_path / "tuned",
                                  out_dir=tmp_path / "sw", tables_path=tmp_path / "hyperparameters.md")
    assert "pruned as dead networks" in (tmp_path / "tuned" / "fmnist_annealing.yaml").read_text()
    assert any(p.name == "summary.json" for p in written)


def test_export_of_a_finished_sweep(tmp_path, data_dir):
    storage = str(tmp_path / "sweep.journal")
    sweep.init(SPACE, storage, "ex", 3, "smoke", dead_batches=0,   # no pruning: all complete
               overrides=[f"data.data_dir={data_dir}", "data.validation_size=20"])
    assert sweep.work(storage, "ex", 0, out_root=tmp_path / "trials") == 3
    study = optuna.load_study(study_name="ex", storage=sweep.open_storage(storage))
    assert sweep_report.trial_counts(study)["complete"] == 3
    written = sweep_report.export_study(storage, "ex", configs_dir=tmp_path / "tuned",
                                  out_dir=tmp_path / "sw", tables_path=tmp_path / "hyperparameters.md")
    assert {p.name for p in written} >= {"fmnist_annealing.yaml", "trials.csv", "history.png",
                                         "importance.png", "summary.json", "hyperparameters.md"}
    from snn_tha.repro import schema
    tuned = schema.load_config(tmp_path / "tuned" / "fmnist_annealing.yaml")
    assert tuned.optim.lr == study.best_params["optim.lr"]
    assert "0 of 3 trials pruned as dead networks" in (tmp_path / "tuned" / "fmnist_annealing.yaml").read_text()
    summary = json.loads((tmp_path / "sw" / "ex" / "summary.json").read_text())
    assert summary["counts"]["complete"] == 3 and summary["dead_fraction"] == 0
    text = sweep_report.status_text(storage, "ex")   # `sweep status`: for people, not JSON
    best = study.best_trial
    assert f"best: trial {best.number}, validation accuracy {best.value:.4f}" in text
    for name in best.params:
        used = best.user_attrs.get(f"value.{name}")
        if used is not None:   # a scaled threshold: the value a run uses, then the multiple
            assert f"{used:.6g} ({best.params[name]:.4g} x the layer's membrane scale)" in text
    # the same study exports again; another study's tuned config is never replaced silently
    tuned_path = tmp_path / "tuned" / "fmnist_annealing.yaml"
    sweep_report.export_study(storage, "ex", configs_dir=tmp_path / "tuned", out_dir=tmp_path / "sw")
    other = "# fmnist_annealing tuned by `snn-tha sweep` study 'big': 30 trials at profile tiny " \
            "with []; best validation accuracy 0.9000 (trial 13); 0 of 30 trials pruned.\n"
    tuned_path.write_text(other)
    with pytest.raises(ConfigError, match="holds study 'big' .best validation accuracy 0.9000, 30 "
                                          "trials.; study 'ex' .* --force"):
        sweep_report.export_study(storage, "ex", configs_dir=tmp_path / "tuned", out_dir=tmp_path / "sw")
    assert tuned_path.read_text() == other
    sweep_report.export_study(storage, "ex", configs_dir=tmp_path / "tuned", out_dir=tmp_path / "sw",
                        force=True)
    assert "study 'ex'" in tuned_path.read_text()
    assert (tmp_path / "tuned" / "hyperparameters.md").is_file()   # beside the tuned dir

    # multi-fidelity comparison table (here the same study twice: no saving)
    rows = sweep_report.fidelity_comparison([(storage, "ex"), (storage, "ex")],
                                            tmp_path / "mf.md", ["# title"])
    assert rows[0]["complete"] == 3 and rows[0]["trial_seconds"] > 0
    # wall = first start to last end: at least the longest trial, at most the sum plus the
    # workers' time between trials (sampling, storage, gc: under a second each when idle)
    longest = max(t.duration.total_seconds() for t in study.trials)
    assert longest - 0.1 <= rows[0]["wall_seconds"] <= rows[0]["trial_seconds"] + 3 * 2
    md = (tmp_path / "mf.md").read_text()
    assert md.startswith("# title") and md.count("(0% saved)") == 2


def test_dead_watch_prunes_silence_and_chance_with_the_reason():
    class FakeTrial:
        user_attrs = {}

        def set_user_attr(self, k, v):
            self.user_attrs[k] = v
    trial = FakeTrial()
    on_batch, on_epoch = sweep.dead_watch(trial, dead_batches=2, dead_layers="output")
    on_batch(1, [5.0, 0.0])
    with pytest.raises(optuna.TrialPruned):
        on_batch(2, [3.0, 0.0])                     # the output never spiked in 2 batches
    assert trial.user_attrs["pruned_reason"].startswith("dead: layer 1 emitted no spike")
    on_batch, on_epoch = sweep.dead_watch(FakeTrial(), dead_batches=2, dead_layers="any")
    on_batch(1, [0.0, 4.0])
    with pytest.raises(optuna.TrialPruned, match="layer 0"):
        on_batch(2, [0.0, 1.0])                     # a silent hidden layer counts with "any"
    alive_batch, alive_epoch = sweep.dead_watch(FakeTrial(), dead_batches=2, dead_layers="output")
    alive_batch(1, [1.0, 0.0])
    alive_batch(2, [1.0, 2.0])                      # spiked once: alive
    alive_epoch({"epoch": 0, "val_acc": 0.35, "val_chance": 0.2})
    with pytest.raises(optuna.TrialPruned, match="at chance"):
        alive_epoch({"epoch": 0, "val_acc": 0.2, "val_chance": 0.2})


def test_warm_start_values_are_the_published_ones():
    space = sweep.load_space(SPACE)
    release = sweep.published_params(space, "release")
    paper = sweep.published_params(space, "paper")
    assert release["net.slope"] == 0.1557 and paper["net.slope"] == 0.2
    # scaled thresholds as multiples of the first layer's membrane scale (batch norm, T = 100)
    scale = lambda beta: (1 - beta ** 100) / (1 - beta)  # noqa: E731
    assert release["annealing.delta.0"] * scale(0.868) == pytest.approx(14.0456 - 6.9)
    assert paper["annealing.delta.0"] * scale(0.87) == pytest.approx(14.0 - 6.9)
    assert release["optim.grad_clip"] is None and release["net.batch_norm"] is True


def test_a_worker_of_another_space_or_commit_is_refused(tmp_path, data_dir, capsys):
    from snn_tha.repro.cli.main import main
    storage = str(tmp_path / "s.journal")
    study = sweep.init(SPACE, storage, "m", 1, "smoke",
                       overrides=[f"data.data_dir={data_dir}", "data.validation_size=20"])
    study.set_user_attr("git_commit", "0" * 40)
    study.set_user_attr("space_hash", "feedfacefeedface")
    argv = ["sweep", "work", "--study", "m", "--storage", storage, "--trials-dir", str(tmp_path / "t")]
    assert main(argv) == 2
    err = [l for l in capsys.readouterr().err.splitlines() if l.startswith("snn-tha: error:")]
    assert len(err) == 1 and "search space" in err[0] and "0000000000" in err[0]
    assert "--allow-mismatch" in err[0]
    assert main(argv + ["--allow-mismatch"]) == 0


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
    assert proc.wait(timeout=60) == 143
    log.close()
    text = (tmp_path / "w.log").read_text()
    assert "Traceback" not in text, text
    assert "terminated by SIGTERM" in text and "snn-tha: terminated (SIGTERM)" in text, text
    assert "run the same `sweep work` command again" in text and "--resume" not in text, text   # it has no --resume
    counts = states(study)
    assert counts.get("RUNNING", 0) == 0 and counts["FAIL"] == 1, counts
    failed = next(t for t in study.trials if t.state.name == "FAIL")
    assert failed.user_attrs["failed_reason"] == "terminated by SIGTERM"
    assert failed.user_attrs["warm_start"] == "release"   # the first trial: the published one
    again = [t for t in study.trials if t.state.name == "WAITING"]   # queued again, not lost
    assert len(again) == 1 and again[0].user_attrs["warm_start"] == "release"
    assert again[0].system_attrs["fixed_params"] == failed.system_attrs["fixed_params"]   # all of them


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
    sweep.init(SPACE, postgres, "pg", budget, "smoke", prune="median", dead_batches=1,
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
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]   # pruning is on
    assert len(finished) == budget and "RUNNING" not in states(study)
    assert trials[killed_trial].state.name == "FAIL"
    retried = [t for t in finished if optuna.storages.RetryHeartbeatStaleTrialCallback
               .retried_trial_number(t) == killed_trial]
    assert len(retried) == 1   # re-queued once, keeping what the killed trial had sampled
    assert all(retried[0].params[k] == v for k, v in trials[killed_trial].params.items())


def test_postgres_password_is_never_printed_nor_written(tmp_path, data_dir, postgres, capsys,
                                                       monkeypatch):
    from snn_tha.repro.cli.main import main
    monkeypatch.setenv("SNN_THA_RESULTS", str(tmp_path / "results"))
    url = postgres.replace("postgres@", "postgres:s3cr3t-pw@")   # trust auth: any password works
    overrides = ["--set", f"data.data_dir={data_dir}", "--set", "data.validation_size=20"]
    assert main(["sweep", "init", "--study", "pw", "--storage", url, "--space", SPACE, "--budget",
                 "2", "--profile", "smoke", *overrides]) == 0
    log = open(tmp_path / "worker.log", "w")
    assert worker(url, "pw", 0, log).wait(timeout=600) == 0
    assert main(["sweep", "status", "--study", "pw", "--storage", url]) == 0
    exported = main(["sweep", "export", "--study", "pw", "--storage", url, "--tuned-dir",
                     str(tmp_path / "tuned")])
    printed = capsys.readouterr()
    study = optuna.load_study(study_name="pw", storage=sweep.open_storage(url))
    texts = [printed.out, printed.err, (tmp_path / "worker.log").read_text(), str(study.user_attrs),
             *(str(t.user_attrs) for t in study.trials)]
    texts += [p.read_text(errors="ignore") for p in tmp_path.rglob("*") if p.is_file()]
    assert exported in (0, 2) and not any("s3cr3t-pw" in t for t in texts)
