#!/usr/bin/env bash
# The release recipe in one command: train the `default` configuration on the real data
# (seed fixed, so the weights are reproducible on CPU), evaluate it on the patient-grouped
# validation split (calibration, threshold, report, plots), then convert it to int8 into the
# app's model folder. The converter re-applies the run's threshold rule (sensitivity >= 0.98,
# highest specificity) to the int8 model's own validation probabilities (--rethreshold), so the
# shipped threshold holds for the model that ships.
#
#   scripts/train_release.sh [DATA_DIR] [RUN_DIR] [MODEL_DIR]
#
# Defaults: DATA_DIR=../shared/data/chest_xray, RUN_DIR=../runs/release-<UTC time> (outside the
# repository), MODEL_DIR=resources/model. BASELINE_RUN=<run dir of the seed_baseline config>
# adds the seed recipe to the model card side by side. Extra pneumonia-train options can be
# passed in TRAIN_ARGS (e.g. TRAIN_ARGS="--seed 7"). Wall time is printed and written to
# RUN_DIR/release_time.json.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-../shared/data/chest_xray}"
RUN_DIR="${2:-../runs/release-$(date -u +%Y%m%dT%H%M%S)}"
MODEL_DIR="${3:-resources/model}"
PY=.venv/bin

start=$(date +%s)
# shellcheck disable=SC2086
"$PY/pneumonia-train" --data "$DATA" --out "$RUN_DIR" --config default ${TRAIN_ARGS:-}
trained=$(date +%s)
convert_args=("$RUN_DIR" --out "$MODEL_DIR" --force --rethreshold --experiments training/EXPERIMENTS.md)
if [[ -n "${BASELINE_RUN:-}" ]]; then
    convert_args+=(--baseline "$BASELINE_RUN")
fi
"$PY/pneumonia-convert" "${convert_args[@]}"
end=$(date +%s)
printf '{"train_and_evaluate_s": %d, "convert_s": %d, "total_s": %d}\n' \
    $((trained - start)) $((end - trained)) $((end - start)) > "$RUN_DIR/release_time.json"
echo "release: run folder $RUN_DIR, model folder $MODEL_DIR, wall time $((end - start)) s" \
     "(train+evaluate $((trained - start)) s, convert $((end - trained)) s)"
