#!/usr/bin/env bash
# ansible-lint (production profile, offline) over deploy/ansible must be clean, and every
# playbook must pass ansible-playbook --syntax-check.
source "$(dirname "$0")/lib/common.sh"
need ansible-lint ansible-playbook
cd "$ANSIBLE_DIR"
ansible-lint --offline --profile production --nocolor > "$T/lint.log" 2>&1 || { cat "$T/lint.log"; fail "ansible-lint reported violations"; }
grep -q "Passed with production profile" "$T/lint.log" || { cat "$T/lint.log"; fail "ansible-lint did not pass the production profile"; }
for pb in playbooks/*.yml; do
  ansible-playbook --syntax-check "$pb" > "$T/syntax.log" 2>&1 || { cat "$T/syntax.log"; fail "syntax check of $pb"; }
done
bash -n bin/drift || fail "bin/drift has a syntax error"
echo "ansible-lint production profile clean; $(ls playbooks/*.yml | wc -l) playbooks pass --syntax-check"
