#!/bin/sh
# Simulates `pip install --upgrade NAME`: takes 0.1-0.4 s depending on the name,
# records the upgrade, and fails for the package pinned by something else.
name=$3
delay=$(printf '%s' "$name" | cksum | awk '{ printf "%.2f", 0.1 + ($1 % 30) / 100 }')
sleep "$delay"
if [ "$name" = legacy-pinned-lib ]; then
  echo "ERROR: Cannot upgrade $name: pinned by another package" >&2
  exit 1
fi
touch "upgraded/$name"
echo "Successfully installed $name"
