#!/usr/bin/env bash
# A lent-GPU session: train the CT demo model (the DX one trains on the CPU), writing
# weights, spec and log to $OUT (or ./out/gpu). Wheels for what the GPU image lacks
# (monai, array-api-compat) are expected in .whl/. With BENCH=1 it then runs the CAM
# benchmarks on the GPU. (Stage 1 of the committed demo-ct3d ran this with
# --cell-head separate; see scripts/train_demo_models.py for all stages.)
set -uo pipefail
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 scripts/train_demo_models.py ct3d --device cuda --minutes "${CT_MIN:-2.3}" --batch 16 \
  --pool 64 --renew-every 2 --val-size 96 --max-voxels 20000000 --log-every 10 \
  --eval-every 45 --out "$OUT" 2>&1 | tee "$OUT/ct3d.log" | grep -E "eval|final|rendered|step [0-9]*0 "
if [ "${BENCH:-0}" = 1 ]; then
  timeout 60 python3 bench/cam_speed.py --device cuda --repeats 5
  timeout 110 python3 bench/cam_methods.py --device cuda --repeats 5
fi
