# The verbs of the project. `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PRESET ?= fast

.PHONY: run test test-fast lint model lines-model lines-model-cpu bench report clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[train,serve,test]'
	touch $(STAMP)

## run: install, train the fast preset, evaluate it, write the report
run: $(STAMP)
	$(BIN)/digitcnn train --preset $(PRESET) --out runs/$(PRESET) --overwrite

## test: install (with the test dependencies), lint with ruff's default rules, run the whole test suite
test: lint
	$(BIN)/python -m pytest

## test-fast: the same without the tests that train a model (about a minute)
test-fast: lint
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

## model: reproduce the pretrained default model in models/ (the accurate preset)
model: $(STAMP)
	$(BIN)/python scripts/make_default_model.py

## lines-model: reproduce the pretrained line reader, models/lines.onnx. Its first stage needs a GPU:
## a larger model trained from scratch by scripts/train_lines_stream.py for 7.4 minutes on a lent H100
## (Keras's JAX backend there; any backend runs it), 14 of its 16 cores drawing 1 million lines meanwhile.
## The shipped run trained a second model beside it on the same GPU (RESULTS, eighth session), so
## alone it makes more steps in the same time: a rerun gives a comparable model, not the same one.
## On 2 CPU cores that stage would take days; the second and the third take about 15 and 8 minutes.
## The third continues the second's model rebuilt from its ONNX file, as the shipped one was, on
## amounts closed by marks other than dashes too (RESULTS, twenty-fifth session). The fourth continues
## the third on round amounts ("25.000"), twice with two seeds (8 minutes each), and the shipped
## model is the mean of the two runs' weights, its probabilities calibrated by a temperature fitted on
## synthetic validation lines (RESULTS, twenty-sixth session).
lines-model: $(STAMP)
	$(BIN)/python scripts/train_lines_stream.py --models wide --minutes 7.4 --out runs/stream
	$(BIN)/python scripts/train_lines_stream.py --finish runs/stream/wide.keras --out runs/lines-stream
	$(BIN)/digitcnn train-lines --preset lines-writers --out runs/lines-writers --quiet
	$(BIN)/python scripts/line_model_from_onnx.py --onnx runs/lines-writers/model.onnx --out runs/lines-shipped
	$(BIN)/digitcnn train-lines --preset lines-closing --out runs/lines-closing --quiet
	$(BIN)/digitcnn train-lines --preset lines-round --out runs/lines-round --quiet
	$(BIN)/digitcnn train-lines --preset lines-round --seed 21 --out runs/lines-round-s21 --quiet
	$(BIN)/python scripts/average_line_models.py runs/lines-round runs/lines-round-s21 --out runs/lines-round-avg
	$(BIN)/python scripts/fit_line_temperature.py runs/lines-round-avg
	$(BIN)/python scripts/ship_line_model.py runs/lines-round-avg

## lines-model-cpu: the line reader shipped before it, on 2 CPU cores only (about 3 hours): seven
## stages, each from the last one's model (config.LINE_PRESETS says what each draws). Its first three
## stages drew their lines before two synthesis changes (RESULTS, sixth session)
lines-model-cpu: $(STAMP)
	$(BIN)/digitcnn train-lines --preset lines --out runs/lines --quiet
	$(BIN)/digitcnn train-lines --preset lines-cheque --out runs/lines-cheque --quiet
	$(BIN)/digitcnn train-lines --preset lines-long --out runs/lines-long --quiet
	$(BIN)/digitcnn train-lines --preset lines-final --out runs/lines-final --quiet
	$(BIN)/digitcnn train-lines --preset lines-polish --out runs/lines-polish --quiet
	$(BIN)/digitcnn train-lines --preset lines-marks --out runs/lines-marks --quiet
	$(BIN)/digitcnn train-lines --preset lines-settle --out runs/lines-settle --quiet
	$(BIN)/python scripts/ship_line_model.py runs/lines-settle

## bench: the side-by-side benchmarks (slow; not tests); record results in benchmarks/RESULTS.md
bench: $(STAMP)
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/predict_speed.py
	$(BIN)/python benchmarks/new_images.py
	$(BIN)/python benchmarks/serve_load.py
	$(BIN)/python benchmarks/real_input_speed.py
	$(BIN)/python benchmarks/real_handwriting.py
	$(BIN)/python benchmarks/trust.py
	$(BIN)/python benchmarks/doodles.py
	$(BIN)/python benchmarks/abuse.py
	$(BIN)/python benchmarks/read_numbers.py

clean:
	rm -rf runs .pytest_cache
