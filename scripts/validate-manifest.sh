#!/usr/bin/env bash
# Checks deploy/kubernetes.yaml against the Kubernetes API's JSON schemas,
# strictly (an unknown or misspelt field fails), with the PyPI package
# kubernetes-validate, which ships the schemas and needs no cluster.
#
#   scripts/validate-manifest.sh
#
# It also checks the alternative the manifest's comments describe, the
# kubelet's preStop sleep action, by validating a copy with that hook (and
# SHUTDOWN_DELAY=0s) against 1.30, the first release where the action is on
# by default. tests/deploy.rs checks what a schema cannot: the numbers
# against each other. Installs into target/validate-venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

versions=(1.30.0 1.34.0)
venv="${CARGO_TARGET_DIR:-target}/validate-venv"

if ! command -v python3 >/dev/null; then
  echo "validate-manifest.sh: python3 is not installed; nothing checked" >&2
  exit 1
fi
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet kubernetes-validate
fi
echo "kubernetes-validate $("$venv/bin/kubernetes-validate" --version)"

for version in "${versions[@]}"; do
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" deploy/kubernetes.yaml
  echo "deploy/kubernetes.yaml: valid for Kubernetes $version (strict)"
done

variant=$(mktemp --suffix=.yaml)
trap 'rm -f "$variant"' EXIT
"$venv/bin/python" - deploy/kubernetes.yaml "$variant" <<'EOF'
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
for doc in docs:
    if doc["kind"] == "Deployment":
        container = doc["spec"]["template"]["spec"]["containers"][0]
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": 10}}}
        for var in container["env"]:
            if var["name"] == "SHUTDOWN_DELAY":
                var["value"] = "0s"
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))
EOF
"$venv/bin/kubernetes-validate" --strict --quiet -k 1.30.0 "$variant"
echo "the preStop sleep variant: valid for Kubernetes 1.30.0 (strict)"
