#!/usr/bin/env bash
# The test set-up and run: everything setup.sh installs plus the dev tools and the test-only system
# packages (headless Chromium and its driver, for the studio's browser test), then lint, type-check, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
bash scripts/install_system_packages.sh chromium chromium-driver
.venv/bin/ruff check src tests scripts
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
