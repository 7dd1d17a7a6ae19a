#!/usr/bin/env bash
# Install spectune into the active Python environment.
# PyTorch first: on a machine without an NVIDIA GPU we take the CPU build (torch==2.13.0),
# because an unpinned `torch` pulls a multi-GB CUDA build. Set SPECTUNE_TORCH to override
# (e.g. SPECTUNE_TORCH="torch>=2.2,<3" on a CUDA machine).
# Usage: scripts/setup.sh [--test]   (--test adds pytest, psycopg for the PostgreSQL
#                                     tests and the optional SPC reader)
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    default_torch="torch>=2.2,<3"
  else
    default_torch="torch==2.13.0"
  fi
  python -m pip install -q "${SPECTUNE_TORCH:-$default_torch}"
fi
if [ "${1:-}" = "--test" ]; then
  python -m pip install -q -e ".[test,postgres]"
  # spc-spectra does not build in pip's isolated build: it needs numpy installed first.
  python -m pip install -q --no-build-isolation "spc-spectra>=0.4"
else
  python -m pip install -q -e .
fi
