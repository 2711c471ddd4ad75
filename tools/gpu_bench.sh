#!/usr/bin/env bash
# `sam2-ros bench --compare-official` on a CUDA machine that has PyTorch but no ROS (engine mode
# imports nothing from ROS). Without network there, bring SAM 2 and its pure-Python dependencies as
# wheels in .whl/, made on a machine with network:
#   pip download --no-deps -d .whl sam2==1.1.0 hydra-core==1.3.8 omegaconf==2.3.1 \
#       iopath==0.1.10 antlr4-python3-runtime==4.9.3
#   for f in .whl/*.tar.gz; do SAM2_BUILD_CUDA=0 pip wheel --no-deps -w .whl "$f"; done
#   rm .whl/*.tar.gz
# Usage: tools/gpu_bench.sh OUT_DIR [options added to every bench run]
set -euo pipefail
out=${1:?usage: tools/gpu_bench.sh OUT_DIR [bench options]}
shift
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/sam2_ros_site .whl/*.whl
    export PYTHONPATH=/tmp/sam2_ros_site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'
run() {  # NAME [bench options]
    local name=$1
    shift
    echo "== $name"
    python3 -m sam2_ros.commands.cli bench --device cuda --json "$out/$name.json" "$@" \
        2>>"$out/stderr.log" | grep -E "ms_median|ratio|iou|cuda_peak|_s |recompilations|graphs"
}
for objects in 1 4; do
    run "tiny_256px_${objects}obj" --image-size 256 --objects "$objects" --compare-official "$@"
    run "tiny_1024px_${objects}obj" --image-size 1024 --objects "$objects" --compare-official "$@"
    run "base_plus_1024px_${objects}obj" --image-size 1024 --objects "$objects" \
        --model-cfg configs/sam2.1/sam2.1_hiera_b+.yaml --compare-official "$@"
    run "tiny_1024px_${objects}obj_max_vs_vos" --image-size 1024 --objects "$objects" \
        --compile max --compare-official vos --frames 300 "$@"
done
