#!/usr/bin/env bash
# The GPU check, for a machine lent with a GPU: installs what it needs if missing, runs
# benchmarks/gpu.py (about 3 minutes on one H200) and prints its table. Nothing in the tests needs it.
#   bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if ! "$PY" -c "import colorlab, torch" 2>/dev/null; then
    python3 -m venv .venv && PY=.venv/bin/python
    "$PY" -m pip install -q torch==2.14.1 torchvision==0.29.1 && "$PY" -m pip install -q -e . torch==2.14.1 torchvision==0.29.1
fi
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
cd benchmarks && exec "../$PY" gpu.py "$@"
