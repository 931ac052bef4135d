# The two commands of the README:  make run  (set up, stylise the samples)  and  make test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 4

.PHONY: run test lint weights dry-run gallery report clean

# The virtual environment, rebuilt when a requirements file changes.
$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime  ## stylise data/content x data/style into results/
	$(BIN)/snakemake --cores $(CORES)

dry-run: $(VENV)/.runtime  ## what a run would do, and why
	$(BIN)/snakemake --cores $(CORES) -n

weights: $(VENV)/.runtime  ## download torchvision weights into resources/weights/ when configured (needs internet; the default VGG19 installs with pip)
	$(BIN)/snakemake fetch_weights --cores 1

gallery: $(VENV)/.runtime  ## (re)build results/gallery/index.html from finished results
	$(BIN)/snakemake gallery --cores $(CORES)

report: $(VENV)/.runtime  ## Snakemake's report (summary, contact sheets, plots): results/report.zip
	$(BIN)/snakemake --cores $(CORES) --report results/report.zip

test: $(VENV)/.dev lint  ## unit and workflow tests (CPU); installs Chromium on Debian if missing
	tests/setup_system.sh
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/snakemake --lint -n
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/ruff check scripts tests bench data

clean:  ## remove results and logs (keeps the environment and the weights)
	rm -rf results/* logs .snakemake
	touch results/.gitkeep
