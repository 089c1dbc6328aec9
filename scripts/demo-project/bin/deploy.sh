#!/bin/sh
# Stands in for a real deployment: takes a moment, then records the version as "running".
set -eu
dry=""
if [ "${1:-}" = "--dry-run" ]; then dry=1; shift; fi
version="$1"
state="systems/$LOCKSTEP_ENVIRONMENT/$LOCKSTEP_COMPONENT"
current=$(cat "$state" 2>/dev/null || echo none)
if [ -n "$dry" ]; then echo "would change $LOCKSTEP_COMPONENT in $LOCKSTEP_ENVIRONMENT: $current -> $version"; exit 0; fi
echo "deploying $LOCKSTEP_COMPONENT $version to $LOCKSTEP_ENVIRONMENT (was $current)"
sleep "${DEMO_STEP_SECONDS:-0.4}"
echo "rolling out instances"
sleep "${DEMO_STEP_SECONDS:-0.4}"
mkdir -p "systems/$LOCKSTEP_ENVIRONMENT"
printf '%s\n' "$version" > "$state"
case "$LOCKSTEP_COMPONENT" in
  iam) printf '{"role_arn":"arn:aws:iam::123456789012:role/checkout-%s"}' "$LOCKSTEP_ENVIRONMENT" > "$LOCKSTEP_OUTPUTS" ;;
  queue) printf '{"queue_url":"https://sqs.example.com/123456789012/checkout-%s"}' "$LOCKSTEP_ENVIRONMENT" > "$LOCKSTEP_OUTPUTS" ;;
esac
echo "$LOCKSTEP_COMPONENT now runs $version"
