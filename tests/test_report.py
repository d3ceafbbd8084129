"""engine/report.py: the results table reads back as it was written; a run records its machine."""
from __future__ import annotations

import os

import pytest
import torch

from trivision.engine import report
from trivision.engine.report import read_results, results_table, threads_used


def test_results_table_reads_back_by_phase(tmp_path):
    rows = [{"model": "bcnn-lowdim", "phase": "frozen", "epochs": 10, "train_loss": 0.3481, "train_acc": 0.9576,
             "val_loss": 0.8921, "val_acc": 0.75, "test_loss": 1.1463, "test_acc": 0.6031},
            {"model": "bcnn-lowdim", "phase": "best", "epochs": 30, "test_loss": 0.845, "test_acc": 0.74046}]
    path = tmp_path / "results.md"
    path.write_text("# a title\n\n" + results_table(rows))
    back = read_results(path)
    assert list(back) == ["frozen", "best"]
    assert back["frozen"]["epochs"] == 10 and back["frozen"]["test_acc"] == pytest.approx(0.6031)
    assert back["frozen"]["val_loss"] == pytest.approx(0.8921)
    assert back["best"]["train_acc"] is None and back["best"]["test_acc"] == pytest.approx(0.7405)  # 2 decimals


def test_other_tables_in_the_file_are_ignored(tmp_path):
    path = tmp_path / "results.md"
    path.write_text("| Model | Total params | Trainable params | Non-trainable params |\n|---|---:|---:|---:|\n"
                    "| x | 1 | 1 | 0 |\n")
    assert read_results(path) == {}


def test_threads_used_names_the_usual_count_and_the_exceptions():
    assert threads_used([{"threads": "2"}] * 3) == "2"
    resumed = [{"threads": "2"}] * 30 + [{"threads": "1"}] * 10
    assert threads_used(resumed) == "2 (1 for 10 of 40 epochs)"
    before_it_was_recorded = [{"threads": ""}] * 3 + [{}] + [{"threads": "1"}]
    assert threads_used(before_it_was_recorded, unrecorded=2) == "2 (1 for 1 of 5 epochs)"


def test_machine_names_cores_cpu_and_torch():
    line = report.machine()
    assert line.startswith(f"{len(os.sched_getaffinity(0))} cores of ")
    assert line.endswith(f"torch {torch.__version__}") and ("no GPU" in line) != torch.cuda.is_available()


def test_a_run_lists_each_machine_it_ran_on_once(tmp_path, monkeypatch):
    assert report.machines(tmp_path) == []  # a run from before machine.txt
    monkeypatch.setattr(report, "machine", lambda: "2 cores of CPU A")
    report.record_machine(tmp_path)
    report.record_machine(tmp_path)  # resumed on the same machine
    monkeypatch.setattr(report, "machine", lambda: "16 cores of CPU B")
    report.record_machine(tmp_path)  # resumed elsewhere
    assert report.machines(tmp_path) == ["2 cores of CPU A", "16 cores of CPU B"]
