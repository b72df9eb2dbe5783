#!/bin/sh
# One-shot (temporalio/admin-tools), once the server is healthy: registers the namespace and the search attributes
# strava-sync's workflows write (StravaAthleteId, SyncState, LastSyncAt, SettingsVersion). Idempotent: run it
# again after an upgrade that adds one (a workflow cannot write an attribute the server does not know).
set -eu
address=${TEMPORAL_ADDRESS:-temporal:7233}
namespace=${TEMPORAL_NAMESPACE:-default}

until temporal operator cluster health --address "$address"; do sleep 2; done
temporal operator namespace describe --address "$address" --namespace "$namespace" >/dev/null 2>&1 \
  || temporal operator namespace create --address "$address" --namespace "$namespace" --retention 7d

add_attribute() {
  if temporal operator search-attribute list --address "$address" --namespace "$namespace" | grep -q "^ *$1 "; then
    echo "search attribute $1 exists"
  else
    temporal operator search-attribute create --address "$address" --namespace "$namespace" --name "$1" --type "$2"
  fi
}
add_attribute StravaAthleteId Keyword
add_attribute SyncState Keyword
add_attribute LastSyncAt Datetime
add_attribute SettingsVersion Int
echo "namespace $namespace and search attributes ready"
