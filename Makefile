# The two commands of the README, plus the setup they share.
.PHONY: setup demo test

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/redrive demo

test: setup
	.venv/bin/python -m pytest -q
