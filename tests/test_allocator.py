import subprocess
import sys

import pytest

from trivision.engine.allocator import _glibc_mallopt, use_allocator
from trivision.errors import TrivisionError

# Like training steps: each round fills blocks of 64, 48, 40 and 64 MB (over glibc's largest mmap threshold)
# and frees them together; prints the minor page faults of the last 5 of 8 rounds.
REFILL = """
import resource, sys, torch
from trivision.engine.allocator import use_allocator
print(use_allocator(sys.argv[1]))
for step in range(8):
    if step == 3:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [torch.ones(n * 2**20) for n in (16, 12, 10, 16)]
    del blocks
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _refill_faults(allocator: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", REFILL, allocator], capture_output=True, text=True, check=True)
    took, faults = out.stdout.split()
    return took, int(faults)


@pytest.mark.skipif(_glibc_mallopt() is None, reason="glibc's mallopt is needed (Linux with glibc)")
def test_retain_reuses_freed_memory_where_the_system_allocator_faults_it_in_again():
    took, faults_retain = _refill_faults("retain")
    assert took == "True"
    _, faults_system = _refill_faults("system")
    pages = 5 * 216 * 2**20 // 4096
    assert faults_system > 0.8 * pages  # unmapped on free, faulted in again page by page
    # kept: a block now and then does not fit the hole its twin left (alignment) and takes fresh pages
    assert faults_retain < 0.5 * faults_system


def test_an_unknown_allocator_is_one_clear_error():
    with pytest.raises(TrivisionError, match="cpu_allocator must be retain or system, got 'jemalloc'"):
        use_allocator("jemalloc")


def test_system_changes_nothing():
    assert use_allocator("system") is False


# Trains gender-tiny for 3 steps on one thread and prints a digest of its weights.
TRAIN = """
import hashlib, sys, tempfile, torch
from dataclasses import replace
from pathlib import Path
from trivision.config import Phase
from trivision.engine.fit import TensorData, fit
from trivision.models import create_model
from trivision.tasks import get_task
task = get_task("gender")
cfg = replace(task.default_config(), model="gender-tiny", image_size=48, batch_size=16, steps_per_epoch=3, threads=1,
              phases=[Phase("train", epochs=1, lr=1e-3)], cpu_allocator=sys.argv[1], device="cpu")
g = torch.Generator().manual_seed(0)
data = TensorData(torch.randint(0, 256, (32, 3, 48, 48), dtype=torch.uint8, generator=g),
                  torch.randint(0, 2, (32,), generator=g))
torch.manual_seed(0)
model = create_model("gender-tiny", image_size=48)
with tempfile.TemporaryDirectory() as run_dir:
    fit(model, task, data, None, cfg, Path(run_dir), log=lambda line: None)
digest = hashlib.sha256()
for name, tensor in sorted(model.state_dict().items()):
    digest.update(tensor.contiguous().numpy().tobytes())
print(digest.hexdigest())
"""


def test_the_allocator_changes_no_result():
    weights = {a: subprocess.run([sys.executable, "-c", TRAIN, a], capture_output=True, text=True, check=True)
               .stdout.split()[-1] for a in ("retain", "system")}
    assert weights["retain"] == weights["system"]
