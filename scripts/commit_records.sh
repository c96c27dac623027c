#!/usr/bin/env bash
# Commit what a deploy wrote for STACK, its ledger (Pulumi.STACK.yaml) and its release records
# (releases/STACK.yaml), and push it to the remote's main, so git keeps matching what runs.
# Run by every workflow job that records or promotes (.github/workflows/deploy.yml).
#   bash scripts/commit_records.sh STACK MESSAGE
# A records file written for the first time is untracked: it is added, not skipped.
set -euo pipefail
STACK="$1"; MESSAGE="$2"
FILES=("Pulumi.$STACK.yaml")
[[ -f "releases/$STACK.yaml" ]] && FILES+=("releases/$STACK.yaml")
git config user.name >/dev/null || git config user.name "immutable-ops"
git config user.email >/dev/null || git config user.email "immutable-ops@users.noreply.github.com"
git add -- "${FILES[@]}"
if git diff --cached --quiet -- "${FILES[@]}"; then
  echo "commit_records: ${FILES[*]} unchanged; nothing to commit"
  exit 0
fi
git commit -q -m "$MESSAGE" -- "${FILES[@]}"
# Another job (or a merge) may have pushed meanwhile: replay this commit on top of it.
git pull -q --rebase origin main
git push -q origin HEAD:main
echo "commit_records: committed and pushed ${FILES[*]}: $MESSAGE"
