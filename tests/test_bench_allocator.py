"""bench/allocator.py at a tiny size: one row per allocator, each from its own process."""
from __future__ import annotations

from conftest import bench_script, last_json


def test_allocator_bench_times_both_policies_in_fresh_processes():
    done = bench_script("allocator.py", "--workloads", "gender-tiny", "--image-sizes", "32", "--batch-size", "4",
                        "--epochs", "2", "--steps", "1", "--threads", "1", timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = last_json(done.stdout)
    assert [(r["workload"], r["image_size"], r["batch"], r["allocator"]) for r in rows] == [
        ("gender-tiny", 32, 4, "retain"), ("gender-tiny", 32, 4, "system")]
    system = rows[1]
    assert system["speedup"] == 1.0 and system["memory_ratio"] == 1.0
    for r in rows:
        assert r["step_s"] > 0 and r["first_epoch_step_s"] > 0 and r["peak_rss_mib"] > 100
        assert abs(r["speedup"] - system["step_s"] / r["step_s"]) < 1e-9
    assert "| gender-tiny | 32 | 4 | retain |" in done.stdout


def test_allocator_bench_needs_two_epochs():
    done = bench_script("allocator.py", "--epochs", "1", timeout=60)
    assert done.returncode == 2 and "--epochs must be at least 2" in done.stderr
