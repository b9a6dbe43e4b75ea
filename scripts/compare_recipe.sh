#!/usr/bin/env bash
# One run of the from-scratch recipe comparisons in docs/training.md ("How the shipped recipe was chosen"):
# the base recipe, 1,200 steps of 128 patterns on one thread, with any train option overridden after NAME.
#
#   scripts/compare_recipe.sh base
#   scripts/compare_recipe.sh points2126 --two-theta 5 90 2126
#   scripts/compare_recipe.sh convnext --architecture convnext \
#       --architecture-kwargs '{"depths": [2, 2, 4, 2], "dims": [24, 48, 96, 192], "stem_stride": 8}' --steps 400
#   scripts/compare_recipe.sh uniform --space-group-weights uniform
#   scripts/compare_recipe.sh curriculum-clean --clean-fraction 1.0 --steps 600
#   scripts/compare_recipe.sh curriculum-lab --init-from runs/recipe-curriculum-clean/model --steps 600 --warmup-steps 50
#   scripts/compare_recipe.sh base2000 --steps 2000 --crystal-reuse 4
#   scripts/compare_recipe.sh logd --steps 2000 --crystal-reuse 4 --log-d-points 4251
#
# then: python scripts/evaluate_classifier.py --model runs/recipe-NAME/model --amcsd ../shared/data/amcsd-dev \
#           --rruff ../shared/data/rruff-dev
# Runs go to runs/recipe-NAME (ignored by git); a stopped run resumes when the same command is given again.
set -euo pipefail
NAME=$1
shift
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" -m xrdsynth.train --out "runs/recipe-$NAME" \
  --architecture resnet10 --architecture-kwargs '{"width": 24, "stem_stride": 8}' --two-theta 5 90 4251 \
  --sqrt-scale --background-window-deg 3 --preset laboratory-cu --clean-fraction 0.2 \
  --steps 1200 --batch-size 128 --lr 2e-3 --warmup-steps 100 --weight-decay 0.05 --label-smoothing 0.05 \
  --space-group-weights tempered --tempering 0.5 --seed 11 \
  --threads 1 --workers 0 --checkpoint-every 200 --eval-every 600 \
  --eval-patterns 512 --log-every 50 --no-progress "$@"
