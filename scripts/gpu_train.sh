#!/bin/bash
# The training runs that need a GPU, as one batch for a short rented session (the project's `device`
# tool: one H200, 15 minutes, at most 64 MiB of files travel with the repository).
#
#   scripts/gpu_train.sh pack      # here: packed data, wheels and MobileNetV2 weights into .devcarry/
#   scripts/gpu_train.sh run       # on the GPU machine (needs $OUT): every run in parallel, results to $OUT
#
# The LFW copy is the central 60% of each frame (JPEG q90); those runs train with frame_crop = 1 and
# scripts/adopt_run.py records frame_crop = 0.6 and the original data folder afterwards, so every test
# number is measured here, on the original files, by `trivision evaluate`.
#
# The shipped weights (55 MB, tracked) leave no room beside .devcarry/ (56 MB): for the call, untrack them
#   git rm -q --cached src/trivision/weights/*.safetensors; echo "/src/trivision/weights/*.safetensors" >> .git/info/exclude
# and afterwards drop that exclude line and `git reset -q -- src/trivision/weights`.
set -u
C=.devcarry
MINUTES=${MINUTES:-6}        # each run stops at the end of the epoch that passes this
PY=${PY:-python3}            # a dry run here: PY=.venv/bin/python WHEELS=no EXTRA="--limit 200" MINUTES=0.1 OUT=/tmp/o
EXTRA=${EXTRA:-}

if [ "${1:-}" = pack ]; then
    set -e
    rm -rf "$C/pack" && mkdir -p "$C/pack" "$C/torch/hub/checkpoints" "$C/whl"
    .venv/bin/python scripts/pack_dataset.py ../shared/data/lfw-gender "$C/pack/lfw" --central 0.6 --quality 90
    .venv/bin/python scripts/pack_dataset.py ../shared/data/stanford-cars "$C/pack/cars20" --classes 1-20 --quality 0
    tar -czf "$C/data.tgz" -C "$C/pack" lfw cars20 && rm -rf "$C/pack"
    cp ~/.cache/torch/hub/checkpoints/mobilenet_v2-b0353104.pth "$C/torch/hub/checkpoints/"
    .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_17_x86_64 -d "$C/whl" kornia==0.9.0 kornia_rs==0.2.0 tomli_w==1.2.0
    du -sh "$C"
    exit 0
fi

[ "${WHEELS:-yes}" = no ] || $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site $C/whl/*.whl || exit 1
export PYTHONPATH=$PWD/src:/tmp/site TORCH_HOME=$PWD/$C/torch PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
rm -rf /tmp/data /tmp/runs /tmp/smoke-*; mkdir -p /tmp/data /tmp/runs && tar -xzf $C/data.tgz -C /tmp/data || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch, torchvision, kornia; print('torch', torch.__version__, 'torchvision', torchvision.__version__,
    'kornia', kornia.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')" || exit 1

R=/tmp/runs; date -u
# A minute of checks first: a broken run fails here, early, with its error in the output.
smoke() {
    $PY -m trivision train gender --data /tmp/data/lfw --model gender-tiny --limit 400 --epochs 1 $EXTRA --threads 4 \
        --output-dir /tmp/smoke-gender-$1 > /tmp/smoke.log 2>&1 \
    && $PY -m trivision train cars --data /tmp/data/cars20 --model bcnn --backbone mobilenet_v2 --classes 1-20 \
        --image-size 448 --batch-size 32 --set phases.0.epochs=1 --set phases.1.epochs=1 --threads 4 \
        $EXTRA --output-dir /tmp/smoke-cars-$1 >> /tmp/smoke.log 2>&1
}
# Many small processes share the GPU better under MPS; without it (or if it breaks the smoke runs) they time-slice.
if nvidia-cuda-mps-control -d 2>/dev/null && smoke mps; then
    echo "MPS on"
else
    echo quit | nvidia-cuda-mps-control 2>/dev/null; sleep 2
    smoke plain || { tail -n 30 /tmp/smoke.log; exit 1; }
fi
echo "smoke runs passed"

train() {  # NAME ARGS...: one background run, its log beside its folder
    local name=$1; shift
    $PY -m trivision train "$@" $EXTRA --threads 1 --output-dir $R/$name --set time_limit=$MINUTES > $R/$name.log 2>&1 &
}
# Gender: two recipes, both models, both split protocols; the recipe is chosen afterwards on each run's
# validation split. "light": configs/gender-lab-size.toml as it is (best on the CPU so far); "lab": the
# lab's augmentation, 80 epochs, with decoupled weight decay and label smoothing against overfitting.
LAB="--epochs 80 --lr 2e-3 --set optimizer=adamw --set weight_decay=0.05 --set label_smoothing=0.1
     --set warmup_epochs=2 --set augment.shift=0.2 --set augment.rotation=20.0 --set augment.zoom=[1.0,1.2]"
for model in gender-cnn gender-tiny; do
    for split in image identity; do
        train $model-$split-light gender --config configs/gender-lab-size.toml --data /tmp/data/lfw --model $model \
            --split $split --seed 0 --set frame_crop=1.0
        train $model-$split-lab gender --config configs/gender-lab-size.toml --data /tmp/data/lfw --model $model \
            --split $split --seed 0 --set frame_crop=1.0 $LAB
    done
done
# Cars, 20 classes at 448x448 (the B-CNN papers' size): full and low-dimensional bilinear pooling.
# The frozen phase's rate scales inversely with the head's input size (1280^2 vs the projection's).
for model_lr in bcnn:1e-3 bcnn-lowdim:1e-2; do
    model=${model_lr%:*}
    train cars-$model-20-448 cars --data /tmp/data/cars20 --model $model --backbone mobilenet_v2 --classes 1-20 \
        --image-size 448 --batch-size 32 --seed 0 --set phases.0.epochs=20 --set phases.0.lr=${model_lr#*:} \
        --set phases.1.epochs=40 --set phases.1.lr=1e-4
done
sleep 60; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
wait
for log in $R/*.log; do echo "== $log"; tail -n 4 "$log"; done
# Files come back at most 16 MiB each; the full bilinear model (131 MB) comes back without its weights.
cd $R && rm -rf */checkpoints cars-bcnn-20-448/model.safetensors
for group in gender-cnn-image gender-cnn-identity gender-tiny cars; do tar -czf $OUT/$group.tgz $group-*; done
tar -czf $OUT/logs.tgz *.log
ls -la $OUT; date -u
