"""bench/cars_speed.py at a tiny size on generated pixels, and its reading of finished run folders."""
from __future__ import annotations

from conftest import bench_script, last_json
from trivision.engine.report import results_table, write_history

SMALL = ["--images", "8", "--image-size", "32", "--batch-size", "4", "--epochs", "2", "--steps", "1",
         "--threads", "1"]


def finished_run(path, model: str, test_acc: float):
    """A run folder as `trivision train cars` leaves it, written by the same report functions."""
    path.mkdir()
    (path / "config.toml").write_text(f'model = "{model}"\nbackbone = "mobilenet_v2"\nclasses = "1-20"\n'
                                      'image_size = 250\n')
    write_history(path / "history.csv", [{"epoch": e, "phase": "frozen", "seconds": 1.0} for e in (1, 2, 3)])
    (path / "results.md").write_text("# title\n\n" + results_table([
        {"model": model, "phase": "frozen", "epochs": 3, "test_loss": 1.0, "test_acc": 0.5},
        {"model": model, "phase": "best", "epochs": 3, "test_loss": 0.9, "test_acc": test_acc}]))
    return path


def test_cars_speed_compares_cached_and_recomputed_epochs_and_the_two_bilinear_heads(tmp_path):
    run = finished_run(tmp_path / "run", "bcnn-lowdim", 0.6489)
    done = bench_script("cars_speed.py", "--data", str(tmp_path / "absent"), "--model", "bcnn-lowdim", *SMALL,
                        "--runs", str(run), timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    r = last_json(done.stdout)
    assert r["data"] == "random pixels" and r["images"] == 8 and r["classes"] == 20
    variants = {e["variant"]: e for e in r["frozen_phase"]}
    assert [e["backbone_passes_per_epoch"] for e in r["frozen_phase"]] == [0, 1, 2]
    for e in r["frozen_phase"]:
        assert e["first_epoch_s"] > 0 and e["later_epoch_s"] > 0
        mean = (e["first_epoch_s"] + (e["phase_epochs"] - 1) * e["later_epoch_s"]) / e["phase_epochs"]
        assert abs(e["mean_epoch_s"] - mean) < 1e-9
        assert abs(e["vs_cached"] - e["mean_epoch_s"] / variants["cached (trivision)"]["mean_epoch_s"]) < 1e-9
    rows = {(v["model"], v["phase"]): v for v in r["variants"]}
    assert set(rows) == {(m, p) for m in ("bcnn", "bcnn-lowdim") for p in ("frozen", "finetune")}
    for v in rows.values():
        assert v["step_s"] > 0 and v["peak_rss_mib"] >= v["rss_before_model_mib"] > 0
    # the full bilinear classifier is C² wide, the low-dimensional one 128²
    assert rows[("bcnn", "frozen")]["params"]["trainable"] > 10 * rows[("bcnn-lowdim", "frozen")]["params"]["trainable"]
    assert rows[("bcnn", "finetune")]["params"]["total"] == rows[("bcnn", "frozen")]["params"]["total"]
    assert rows[("bcnn", "finetune")]["params"]["trainable"] > rows[("bcnn", "frozen")]["params"]["trainable"]
    assert r["accuracy"] == [{"run": str(run), "model": "bcnn-lowdim", "backbone": "mobilenet_v2", "classes": "1-20",
                              "image_size": 250, "epochs": 3, "test_top1": 0.6489}]
    assert "| two streams recomputed (lab) | 2 |" in done.stdout and "64.89%" in done.stdout


def test_cars_speed_refuses_an_unfinished_run_folder_before_measuring(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.toml").write_text('model = "bcnn"\n')
    done = bench_script("cars_speed.py", "--runs", str(tmp_path / "run"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"cars_speed: error: {tmp_path / 'run'}: not a finished cars run folder " \
                                  "(results.md missing)"
