#!/bin/sh
# Stands in for a health check: versions ending in -broken are unhealthy.
set -eu
version=$(cat "systems/$LOCKSTEP_ENVIRONMENT/$LOCKSTEP_COMPONENT")
echo "checking $LOCKSTEP_COMPONENT $version"
sleep 0.2
case "$version" in
  *-broken) echo "health check failed: $LOCKSTEP_COMPONENT $version answers 503" >&2; exit 1 ;;
esac
echo "healthy"
