#!/bin/sh
# Stands in for `pip list --outdated --format=freeze | cut -d= -f1`.
for name in numpy pandas requests urllib3 certifi idna charset-normalizer attrs \
    pyyaml jinja2 markupsafe click rich pygments packaging setuptools wheel six \
    python-dateutil pytz tzdata legacy-pinned-lib cryptography cffi pycparser; do
  echo "$name"
done
