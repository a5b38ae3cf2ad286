#!/usr/bin/env bash
# Steps of a GPU session on a bare device machine (see README "Rehearsing on a GPU"), each short
# enough for one device call. The device copies the working tree for each call; /tmp stays while
# the machine is warm. Wheels come from scripts/gpu_wheels.sh (.whl/ and the parts in .whl_b/).
#
#   bash scripts/gpu_session.sh setup              # carry .whl: install the wheels, build the random 5b models
#   bash scripts/gpu_session.sh part               # carry one or two .whl_b/ff.part.*: keep them in /tmp/parts
#   bash scripts/gpu_session.sh ffmpeg             # all parts kept: install imageio-ffmpeg
#   bash scripts/gpu_session.sh probe              # time compiling one 5b block: bf16, int8 (torchao settings or not),
#                                                  # detached (results in /tmp/r/compile_probe.json, collected)
#   bash scripts/gpu_session.sh start ARGS...      # gpu_rehearsal.py ARGS, detached (results in /tmp/r)
#   bash scripts/gpu_session.sh multigpu [--gpus 2] # scripts/bench_multi_gpu.py on the random 5b, detached (collected)
#   bash scripts/gpu_session.sh lora               # scripts/bench_lora.py on the random 5b, detached (collected)
#   bash scripts/gpu_session.sh speed GROUPS... [--timeout S]  # bench_speed.py's groups (session_baseline attention ...), detached
#   bash scripts/gpu_session.sh fp8quality         # bench_speed.py nano-fp8: fp8 with each step, on the nano (collected)
#   bash scripts/gpu_session.sh offloadram         # bench_memory.py: group offloading's host RAM, low_cpu_mem_usage or not
#   bash scripts/gpu_session.sh family [t4]        # bench_memory.py on the random 2b and 1.5-5B, detached (collected);
#                                                  # t4: only the T4 rows (the 2b and 5b, low-RAM, under its emulation)
#   bash scripts/gpu_session.sh wait SECONDS       # wait for it (at most SECONDS), print its summary lines, collect
#   bash scripts/gpu_session.sh collect            # copy /tmp/r to $OUT (texts as one tarball)
# `wait` collects every time: a machine released between calls (its idle time is short) takes /tmp with it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=/tmp/site:$PWD
R=/tmp/r
mkdir -p /tmp/site /tmp/parts $R
case "${1:-}" in
  setup)
    pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl 2>&1 | grep -v WARNING || true
    [ -f $R/gpu_rehearsal.json ] || cp media/gpu_rehearsal.json $R/
    python3 - <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, "scripts")
from gpu_rehearsal import build_models
build_models(Path("/tmp/cogvideox-rehearsal-models"))
PY
    ;;
  part) cp .whl_b/ff.part.* /tmp/parts/ && ls /tmp/parts ;;
  ffmpeg)
    wheel=/tmp/imageio_ffmpeg-0.5.1-py3-none-manylinux2010_x86_64.whl
    cat /tmp/parts/ff.part.* > $wheel
    pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $wheel 2>&1 | grep -v WARNING || true
    python3 -c "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())"
    ;;
  probe)
    setsid nohup python3 scripts/gpu_probe_compile.py --time-block --out $R/compile_probe.json \
      > $R/probe.log 2>&1 < /dev/null &
    echo "probe started $!"
    ;;
  multigpu)
    shift  # on nvidia-h200-x2: 09's script split across the GPUs on the random 5b (results in /tmp/r/multi_gpu.json)
    setsid nohup python3 scripts/bench_multi_gpu.py run --model /tmp/cogvideox-rehearsal-models/CogVideoX-5b-random \
      --out $R/multi_gpu.json "$@" > $R/log 2>&1 < /dev/null &
    echo $! > $R/pid
    echo "started $(cat $R/pid)"
    ;;
  family)  # the 2b and 1.5's memory and speed (scripts/bench_memory.py --model) -> /tmp/r/family.json; each
    # member's random folder is built, measured and deleted in turn (the disk holds the rehearsal's two 5b folders too);
    # then the T4 question, under its emulation (kernels, 15 GiB, 12.7 GiB RAM): the 2b and the 5b, low-RAM staged
    case "${2:-all}" in all|t4) ;; *) echo "family ${2}: use 'family' for every row or 'family t4' for the T4's"; exit 2 ;; esac
    rm -rf /tmp/cogvideox-rehearsal-models/CogVideoX-5b-I2V-random
    [ -f $R/family.json ] || cp media/benchmarks/family.json $R/
    # (`family t4`: only the T4 rows, for a session whose family.json has the others already)
    FAMILY_PART="${2:-all}" setsid nohup bash -c 'b="python3 scripts/bench_memory.py --timeout 900 --out /tmp/r/family.json"
      for m in CogVideoX-2b CogVideoX1.5-5B; do [ "$FAMILY_PART" = t4 ] || $b --model $m --folder /tmp/family-$m \
        --recipes all_on_gpu+vae_tiling model_cpu_offload+vae_tiling
        [ $m = CogVideoX-2b ] && COGVIDEOX_EMULATE=t4 $b --model $m --folder /tmp/family-$m --recipes low_ram_staged --vram-cap-gib 15
        rm -rf /tmp/family-$m; done
      COGVIDEOX_EMULATE=t4 $b --folder /tmp/cogvideox-rehearsal-models/CogVideoX-5b-random --recipes low_ram_staged \
        --vram-cap-gib 15' > $R/log 2>&1 < /dev/null &
    echo $! > $R/pid
    echo "started $(cat $R/pid)"
    ;;
  lora)
    setsid nohup python3 scripts/bench_lora.py run --model /tmp/cogvideox-rehearsal-models/CogVideoX-5b-random \
      --out $R/lora.json > $R/log 2>&1 < /dev/null &
    echo $! > $R/pid
    echo "started $(cat $R/pid)"
    ;;
  fp8quality)  # fp8 with each step of the fp8 rows, on the nano together -> /tmp/r/nano_fp8.json (collected)
    setsid nohup python3 scripts/bench_speed.py nano-fp8 --out $R/nano_fp8.json > $R/log 2>&1 < /dev/null &
    echo $! > $R/pid
    echo "started $(cat $R/pid)"
    ;;
  offloadram)  # group offloading's host RAM with pinned copies and with low_cpu_mem_usage, one run -> offload_ram.json
    setsid nohup python3 scripts/bench_memory.py --folder /tmp/cogvideox-rehearsal-models/CogVideoX-5b-random \
      --recipes group_offload_streams+vae_tiling group_offload_low_cpu+vae_tiling --out $R/offload_ram.json \
      > $R/log 2>&1 < /dev/null &
    echo $! > $R/pid
    echo "started $(cat $R/pid)"
    ;;
  speed)
    shift  # rows appended to /tmp/r/speed.json (collected); then, here: bench_speed.py chart media/... speed.json
    setsid nohup python3 scripts/bench_speed.py run --groups "$@" --out $R/speed.json > $R/log 2>&1 < /dev/null &
    echo $! > $R/pid
    echo "started $(cat $R/pid)"
    ;;
  start)
    shift
    setsid nohup python3 scripts/gpu_rehearsal.py "$@" --results $R/gpu_rehearsal.json --texts $R/texts \
      > $R/log 2>&1 < /dev/null &
    echo $! > $R/pid  # the rehearsal's own pid: `pgrep -f` would also find this very command line
    echo "started $(cat $R/pid)"
    ;;
  wait)
    end=$((SECONDS + ${2:-500}))
    while kill -0 "$(cat $R/pid)" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 5; done
    kill -0 "$(cat $R/pid)" 2>/dev/null && echo "still running" || echo "finished"
    grep -E "^\s+[0-9]{2}_.*: |^  error|left for|not started" $R/log | tail -40 || true
    [ -f $R/probe.log ] && tail -5 $R/probe.log
    bash "$0" collect > /dev/null
    ;;
  collect)
    : "${OUT:?collect runs on the device, where OUT is set}"
    for f in gpu_rehearsal.json log probe.log compile_probe.json multi_gpu.json lora.json family.json speed.json \
      nano_fp8.json offload_ram.json; do [ ! -f $R/$f ] || cp $R/$f "$OUT"/; done  # whichever this session wrote
    [ ! -d $R/texts ] || tar czf "$OUT"/texts.tgz -C $R texts
    ls -la "$OUT"
    ;;
  *) sed -n 2,15p "$0"; exit 2 ;;
esac
