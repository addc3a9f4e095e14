#!/usr/bin/env bash
# Installs the Debian packages the test suites need (idempotent; skips what is already there).
# - python3-torch + libopenblas0-pthread: the PyTorch reference for numerical parity tests and bench/.
# - python3-yaml: the exported TRL project's tests read sft_config.yaml as TRL does (PyYAML).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
need=()
dpkg -s python3-torch >/dev/null 2>&1 || need+=(python3-torch)
dpkg -s libopenblas0-pthread >/dev/null 2>&1 || need+=(libopenblas0-pthread)
dpkg -s python3-yaml >/dev/null 2>&1 || need+=(python3-yaml)
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
