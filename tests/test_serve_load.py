"""The web server under load: 200 requests, 8 at a time, good photos mixed with bad uploads."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("multipart")

from trivision.serve.app import background_server, create_app  # noqa: E402

from test_serve import png, post  # noqa: E402


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def test_200_mixed_requests_8_at_a_time(cars_weights, koala_weights, capsys):
    rng = np.random.default_rng(0)
    photo = png(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))
    cases = [  # (endpoint, body, filename, expected status class)
        ("/api/gender", photo, "p.png", 2), ("/api/cars", photo, "p.png", 2), ("/api/colorize", photo, "p.png", 2),
        ("/api/gender", b"", "empty.jpg", 4), ("/api/cars", b"not an image", "t.jpg", 4),
        ("/api/colorize", photo[: len(photo) // 2], "cut.png", 4),
    ]
    jobs = [cases[i % len(cases)] for i in range(200)]
    with background_server(create_app(gender="gender-tiny", cars=str(cars_weights),
                                      colorize=str(koala_weights))) as url:
        base = rss_mib()
        peak, done = [base], threading.Event()

        def watch():
            while not done.is_set():
                peak.append(rss_mib())
                time.sleep(0.05)
        watcher = threading.Thread(target=watch)
        watcher.start()
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda j: (j, post(url + j[0], j[1], filename=j[2])[0]), jobs))
        done.set()
        watcher.join()
        # still serving after the storm
        assert post(url + "/api/gender", photo)[0] == 200
    wrong = [(j[0], j[2], status) for j, status in results if status // 100 != j[3]]
    assert not wrong, wrong[:5]
    growth = max(peak) - base
    with capsys.disabled():
        print(f"\nserver under load: 200 requests, 8 at a time; RSS {base:.0f} MiB before, "
              f"peak {max(peak):.0f} MiB (+{growth:.0f} MiB)")
    assert growth < 1024, f"memory grew by {growth:.0f} MiB under load"
