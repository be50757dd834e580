#!/usr/bin/env bash
# Rewrites every committed file that clip-fleet generates (after changing a profile, the nginx
# template or the Kubernetes objects); the fleet's tests fail while one of them is stale.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --locked -q -p clip-fleet
fleet=target/debug/clip-fleet
for env in development staging production; do
    "$fleet" env --env "$env" --format env-file -o "deploy/env/$env.env"
    "$fleet" nginx --mode docker-compose --env "$env" -o "deploy/nginx/compose/$env.conf"
done
"$fleet" kubernetes --env production -o deploy/kubernetes/scaling-config.yaml
git status --short deploy/env deploy/nginx/compose deploy/kubernetes
