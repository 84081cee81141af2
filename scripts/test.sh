#!/usr/bin/env bash
# The test command from the README: installs Persona with its test extras, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --upgrade pip
python -m pip install -q "torch==2.13.0"          # the CPU build; a plain range may pull a CUDA build
python -m pip install -q -e ".[dev]"
python -m pytest -n 2 -q "$@"
