#!/bin/sh
cat "systems/$LOCKSTEP_ENVIRONMENT/$LOCKSTEP_COMPONENT" 2>/dev/null || true
