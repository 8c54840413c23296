#!/usr/bin/env bash
# `make demo`: enroll into a scratch secret file, then log in through real libpam and the built
# module with pamtester. Everything lives in a temp directory; nothing in /etc is touched
# (pam_wrapper points libpam at our own service directory).
#   DEMO_AUTO=1 make demo   answers both prompts with oathtool instead of a phone.
set -euo pipefail
cd "$(dirname "$0")/../.."
scratch=$(mktemp -d /tmp/pam_mfa-demo.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
user=$(id -un)
secret="$scratch/secret"

cat > "$scratch/other" <<<"auth required pam_deny.so"
# A copy of the module: PAM splits its lines at blanks, and the checkout's path may hold some.
cp build/pam_mfa.so "$scratch/pam_mfa.so"
cat > "$scratch/mfa-demo" <<EOT
# The stack a sysadmin would put in /etc/pam.d/sshd (after the password or key check).
auth    required  $scratch/pam_mfa.so secret=$secret state_dir=$scratch/state
account required  pam_permit.so
EOT

echo "== 1. Enroll: scan the QR code with your authenticator app and type the code it shows."
echo "   (No phone at hand? Run DEMO_AUTO=1 make demo, or compute codes with: oathtool --totp -b KEY)"
echo
if [ "${DEMO_AUTO:-}" = 1 ]; then
  # Read the key from the printed URI and answer like the app would.
  coproc ENROLL { build/mfa-enroll --secret-file "$secret" --qr utf8 2>&1; }
  enroll_pid=$ENROLL_PID
  # Our own copies of its pipes: bash unsets ENROLL as soon as mfa-enroll exits, which may be
  # before the last lines are read (then "${ENROLL[0]}" is an unbound variable under set -u).
  # It cannot exit before this: it waits for the code.
  exec {from_enroll}<&"${ENROLL[0]}" {to_enroll}>&"${ENROLL[1]}"
  while IFS= read -r line <&"$from_enroll"; do
    printf '%s\n' "$line"
    if [[ $line == otpauth://* ]]; then
      key=$(sed -n 's/.*[?&]secret=\([A-Z2-7]*\).*/\1/p' <<<"$line")
      code=$(oathtool --totp -b "$key")
      echo "(DEMO_AUTO answers $code)"
      printf '%s\n' "$code" >&"$to_enroll"
    fi
  done
  exec {from_enroll}<&- {to_enroll}>&-
  wait "$enroll_pid"
else
  build/mfa-enroll --secret-file "$secret"
fi

echo
echo "== 2. Log in: pamtester runs the 'mfa-demo' PAM service through libpam and build/pam_mfa.so."
# The code that confirmed the enrollment is spent (replay protection: the file records its time
# step as confirmed=); any code of that step or older is refused, so wait for the next one.
period=$(sed -n 's/.* period=\([0-9]*\).*/\1/p' "$secret" | head -n1)
confirmed=$(sed -n 's/.* confirmed=\([0-9]*\).*/\1/p' "$secret" | head -n1)
if [ -n "$confirmed" ]; then
  echo "   The code you confirmed with is now used up: a code is accepted once, so a thief who saw"
  echo "   it cannot log in with it. Waiting for your app's next code:"
  while :; do
    now=$(date +%s)
    # One second past the boundary: time() (oathtool, the module) may lag `date` by a tick.
    left=$(( (confirmed + 1) * period + 1 - now ))
    [ "$left" -le 0 ] && break
    printf '\r   next code in %2d s ' "$left"
    sleep 1
  done
  printf '\r   next code is showing now.   \n'
fi
echo "   Type the code your app shows now."
echo
run_pamtester() {
  LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$scratch" \
    pamtester mfa-demo "$user" authenticate
}
if [ "${DEMO_AUTO:-}" = 1 ]; then
  code=$(oathtool --totp -b "$key")
  echo "(DEMO_AUTO answers $code)"
  run_pamtester <<<"$code"
else
  run_pamtester
fi
echo
echo "== Done. The same line goes into /etc/pam.d/sshd for real logins: see README.md."
