#!/usr/bin/env bash
# Download the wheels a bare GPU machine (Python 3.12, PyTorch already there) lacks to rehearse the
# notebooks: diffusers, torchao, optimum-quanto, para-attn, sageattention (the speed bench), the notebook runner and
# ipywidgets into .whl/, and
# imageio-ffmpeg (26 MB, too big to travel with the rest) split into 12 MB parts in .whl_b/. Left out, as no kernel
# needs them and the working tree plus .whl must stay under the 64 MiB a device call carries: jedi and parso
# (IPython's tab completion, imported on first use) and widgetsnbextension (the classic notebook's JavaScript).
# There: pip install --no-deps --target /tmp/site .whl/*.whl; cat the parts back into one wheel and
# install it the same way; PYTHONPATH=/tmp/site:$PWD python scripts/gpu_rehearsal.py ...
set -euo pipefail
cd "$(dirname "$0")/.."
platforms=""
for n in manylinux_2_17 manylinux2014 manylinux_2_24 manylinux_2_27 manylinux_2_28 manylinux_2_31 manylinux_2_34 manylinux_2_35 manylinux1 manylinux2010; do
  platforms="$platforms --platform ${n}_x86_64"
done
get() { python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $platforms -d "$@"; }
versions() { for name in "$@"; do grep -i "^$name==" requirements-lock.txt; done; }
get .whl $(versions diffusers torchao optimum-quanto nbclient nbformat ipykernel jupyter_client jupyter_core traitlets \
  pyzmq tornado comm ipython ipython_pygments_lexers prompt_toolkit wcwidth stack-data asttokens executing \
  pure_eval pexpect ptyprocess matplotlib-inline nest-asyncio2 fastjsonschema jsonschema jsonschema-specifications \
  referencing rpds-py platformdirs ipywidgets jupyterlab_widgets) decorator sageattention==1.0.6  # sage: the speed bench only
# para-attn ships as source only: a pure-Python wheel built here installs there the same way
python3 -m pip wheel -q --no-deps -w .whl $(versions para-attn)
get .whl_a imageio-ffmpeg==0.5.1
mkdir -p .whl_b && (cd .whl_a && split -b 12M imageio_ffmpeg-0.5.1-*.whl ../.whl_b/ff.part.)
for d in .whl .whl_a .whl_b; do grep -qx "/$d/" .git/info/exclude 2>/dev/null || echo "/$d/" >> .git/info/exclude; done
du -sh .whl .whl_b
