#!/usr/bin/env bash
# The release recipe in one command (issue 12; training/EXPERIMENTS.md says why): train each
# configuration in MEMBERS on the real data (seeds fixed, so the weights are reproducible on
# CPU), combine them into one ensemble model when there is more than one (pneumonia-train
# ensemble: the logit and heatmap are the members' means), then convert it to TFLite into the
# app's model folder with the external set EXTERNAL (test_public) scored through the app's path,
# the shipped calibration (logistic) and threshold (sensitivity >= 0.985) fitted on it, and the
# card saying so. No weights are ever trained on EXTERNAL.
#
#   scripts/train_release.sh [DATA_DIR] [RUN_DIR] [MODEL_DIR]
#
# Defaults: DATA_DIR=../shared/data/chest_xray, RUN_DIR=../runs/release-<UTC time> (outside the
# repository; one sub-folder per member plus ensemble/), MODEL_DIR=resources/model,
# MEMBERS="wide_acquisition_std_jpeg_site@3:augmentation.site_p=0.75
#          wide_acquisition_std_jpeg_site@3:augmentation.site_p=0.75,augmentation.zoom_in=0.35"
# (pneumonia-cnn 1.6.0; presets in training/config.py; PRESET@SEED
# trains a preset with another initialisation seed (same split), into the member folder PRESET_seedSEED;
# PRESET[@SEED]:KEY=VALUE[,KEY=VALUE] also overrides configuration fields of that member, as
# pneumonia-train --set does, into PRESET[_seedSEED]_KEY-VALUE[_KEY-VALUE]), EXTERNAL=DATA_DIR/test_public.
# VERSION=X.Y.Z is the model version written into metadata.json and the card.
# QUANTIZATION=int8|float16|float32 overrides pneumonia-convert's default (float32, the shipped
# model's precision; converter/tflite_export.py says why).
# BASELINE_RUN=<run dir of the seed_baseline config> adds the seed recipe to the model card.
# Extra pneumonia-train options go in TRAIN_ARGS (e.g. TRAIN_ARGS="--seed 7"). A member folder
# that already holds a finished run (report.json) is reused, so an interrupted release resumes.
# Wall time is printed and written to RUN_DIR/release_time.json.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-../shared/data/chest_xray}"
RUN_DIR="${2:-../runs/release-$(date -u +%Y%m%dT%H%M%S)}"
MODEL_DIR="${3:-resources/model}"
MEMBERS="${MEMBERS:-wide_acquisition_std_jpeg_site@3:augmentation.site_p=0.75 wide_acquisition_std_jpeg_site@3:augmentation.site_p=0.75,augmentation.zoom_in=0.35}"
EXTERNAL="${EXTERNAL:-$DATA/test_public}"
PY="${PY:-.venv/bin}"  # where pneumonia-train and pneumonia-convert live

start=$(date +%s)
runs=()
for spec in $MEMBERS; do
    # a member is PRESET, PRESET@SEED (the same recipe with another initialisation seed, on
    # the same data split: an ensemble needs one held-out validation split for all members),
    # either followed by :KEY=VALUE[,KEY=VALUE...], pneumonia-train's --set for that member
    base="${spec%%:*}"
    sets=""
    [[ "$spec" == *:* ]] && sets="${spec#*:}"
    preset="${base%@*}"
    seed_args=()
    [[ "$base" == *@* ]] && seed_args=(--init-seed "${base#*@}")
    set_args=()
    if [[ -n "$sets" ]]; then
        IFS=',' read -ra pairs <<< "$sets"
        for kv in "${pairs[@]}"; do set_args+=(--set "$kv"); done
    fi
    # folder: PRESET[_seedSEED][_KEY-VALUE...] (a finished one is reused)
    suffix="${sets//=/-}"
    member="$RUN_DIR/${base/@/_seed}${suffix:+_${suffix//,/_}}"
    if [[ ! -f "$member/report.json" ]]; then
        # shellcheck disable=SC2086
        "$PY/pneumonia-train" --data "$DATA" --out "$member" --config "$preset" \
            "${seed_args[@]}" "${set_args[@]}" ${TRAIN_ARGS:-}
    fi
    runs+=("$member")
done
final="${runs[0]}"
if (( ${#runs[@]} > 1 )); then
    final="$RUN_DIR/ensemble"
    [[ -f "$final/report.json" ]] || "$PY/pneumonia-train" ensemble --out "$final" "${runs[@]}"
fi
trained=$(date +%s)
convert_args=("$final" --out "$MODEL_DIR" --force --rethreshold --experiments training/EXPERIMENTS.md
              --external "$EXTERNAL" --fit-on-external --selected-on-external
              --scope-images 100000  # the guard fitted on every training film before the
                                     # external set is scored (as scripts/refit_scope.py does)
              --shift-results bench/shift_results.json)  # the card's acquisition-shift section
if [[ -n "${VERSION:-}" ]]; then
    convert_args+=(--model-version "$VERSION")
fi
if [[ -n "${QUANTIZATION:-}" ]]; then
    convert_args+=(--quantization "$QUANTIZATION")
fi
if [[ -n "${BASELINE_RUN:-}" ]]; then
    convert_args+=(--baseline "$BASELINE_RUN")
fi
"$PY/pneumonia-convert" "${convert_args[@]}"
end=$(date +%s)
printf '{"train_and_evaluate_s": %d, "convert_s": %d, "total_s": %d}\n' \
    $((trained - start)) $((end - trained)) $((end - start)) > "$RUN_DIR/release_time.json"
echo "release: run folder $final, model folder $MODEL_DIR, wall time $((end - start)) s" \
     "(train+evaluate $((trained - start)) s, convert $((end - trained)) s)"
