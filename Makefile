# The two commands of the README, plus the setup they share.
.PHONY: setup demo test baselines-env

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/redrive demo

test: setup
	.venv/bin/python -m pytest -q

# nerfstudio for `benchmarks/recon_quality.py --baselines`, in its own environment: it pins
# protobuf <= 3.20.3, which redrive's Waymo reader cannot use (several GB; not part of setup)
baselines-env:
	python3 -m venv .venv-ns
	.venv-ns/bin/pip install ".[baselines]"
