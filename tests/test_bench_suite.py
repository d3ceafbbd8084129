"""bench/suite.py: the results file it writes (machine, versions, command, tables, the trivision/Keras ratio
line derived from the measured speeds), a missing script reported in one line, bench/RESULTS.md untouched."""
from __future__ import annotations

import re
import shutil

from conftest import REPO, bench_script, last_json

RESULTS = REPO / "bench" / "RESULTS.md"


def results_file_state():
    return RESULTS.stat().st_mtime_ns if RESULTS.exists() else None


def test_suite_quick_writes_the_machine_the_training_table_and_the_ratio_line_from_the_speeds(tmp_path):
    before = results_file_state()
    output = tmp_path / "out" / "RESULTS.md"
    done = bench_script("suite.py", "--quick", "--only", "train_speed", "--models", "gender-tiny",
                        "--output", str(output), timeout=300)
    r = last_json(done.stdout)
    assert done.returncode == (1 if r["failed"] else 0), done.stderr[-3000:]
    assert results_file_state() == before  # the committed results are not overwritten by a test
    text = output.read_text()
    assert text.startswith("# Speed benchmarks (--quick")
    assert f"{r['machine']['cores']} cores" in text and re.search(r"- date: \d{4}-\d\d-\d\d", text)
    assert f"torch {r['machine']['versions']['torch']}" in text and "python 3." in text
    assert "- command: `python bench/suite.py --quick --only train_speed --models gender-tiny --output" in text
    assert re.search(r"- wall time: \d+\.\d min", text)
    speeds = {(t["model"], t["framework"]): t for t in r["training"]}
    assert set(speeds) == {("gender-tiny", "trivision"), ("gender-tiny", "keras")}
    trivision = speeds[("gender-tiny", "trivision")]
    assert trivision["train"] > 0 and trivision["eval"] > 0 and trivision["train_rounds"] == [trivision["train"]]
    assert f"| gender-tiny | trivision | {trivision['train']:.1f} |" in text
    (ratio,) = r["ratios"]
    keras = speeds[("gender-tiny", "keras")]
    if "error" in keras:  # Keras or TensorFlow absent: said so, no ratio invented
        assert ratio["ratio"] is None and ratio["met"] is None
        assert "- gender-tiny: trivision / Keras training img/s: not measured (failed:" in text
    else:
        assert ratio["ratio"] == trivision["train"] / keras["train"]
        assert ratio["target"] == 3.0 and ratio["met"] == (ratio["ratio"] >= 3.0)
        assert (f"- gender-tiny: trivision / Keras training img/s = {trivision['train']:.1f} / {keras['train']:.1f} = "
                f"{ratio['ratio']:.2f}x; target >= 3x: {'met' if ratio['met'] else 'MISSED'}") in text


def test_suite_reports_each_missing_benchmark_in_one_line_and_goes_on(tmp_path):
    lone = tmp_path / "bench"  # the suite alone: none of the scripts it runs is beside it
    lone.mkdir()
    shutil.copy(REPO / "bench" / "suite.py", lone)
    output = tmp_path / "RESULTS.md"
    done = bench_script(str(lone / "suite.py"), "--quick", "--output", str(output))
    assert done.returncode == 1, done.stderr[-3000:]
    r = last_json(done.stdout)
    text = output.read_text()
    for name in ("train_speed", "flops", "profile_train", "inference_speed", "cars_speed", "colorize_speed", "allocator"):
        assert f"bench/{name}.py is not there yet: not measured" in text
        assert any(line.startswith(name) for line in r["failed"])
    assert [x["ratio"] for x in r["ratios"]] == [None, None]
    assert "- gender-cnn: trivision / Keras training img/s: not measured" in text


def test_ceiling_line_bounds_any_implementation_against_keras():
    import sys
    sys.path.insert(0, str(REPO / "bench"))
    import suite

    speeds = {("gender-cnn", "keras"): {"train": 100.0}}
    flops = [{"model": "gender-cnn", "framework": "trivision", "train_img_per_s_at_ceiling": 150.0,
              "ceiling_gflops": 180.0, "train_flops_per_image": 1.2e9, "train_fraction_of_ceiling": 0.6},
             {"model": "gender-cnn", "framework": "keras", "train_img_per_s_at_ceiling": 150.0,
              "ceiling_gflops": 180.0, "train_flops_per_image": 1.2e9, "train_fraction_of_ceiling": 0.5}]
    (line,) = suite.ceiling_lines(speeds, flops)
    assert line == ("- gender-cnn: at 100% of the ceiling (180.0 GFLOP/s, 1200.0 MFLOP per training image) training "
                    "would reach 150.0 img/s = 1.50x Keras' 100.0; the 2x target needs 133% of the ceiling "
                    "(trivision reaches 60.0%)")
    assert suite.ceiling_lines({}, flops) == []  # no Keras speed: no bound invented
