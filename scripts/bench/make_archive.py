"""Writes a GeoNode 5.1.1 backup archive with N extra documents, for the
backup/restore benchmark: the real 5.1.1 backup in tests/data with its
document 11 (and its resource row) cloned N times, deterministic pks and
uuids, non-ASCII titles. GeoNode's layout: fixtures/ in the zip, <name>.md5.

    python3 make_archive.py N OUT.zip
"""

import copy
import hashlib
import json
import os
import sys
import uuid
import zipfile

n, out = int(sys.argv[1]), sys.argv[2]
fixtures = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "geonode-5.1.1-backup", "fixtures")

base = json.load(open(os.path.join(fixtures, "base.json"), encoding="utf-8"))
documents = json.load(open(os.path.join(fixtures, "documents.json"), encoding="utf-8"))
resource = next(o for o in base if o["model"] == "base.resourcebase" and o["pk"] == 11)
document = next(o for o in documents if o["pk"] == 11)
first = max(o["pk"] for o in base if o["model"] == "base.resourcebase") + 1
for i in range(n):
    pk = first + i
    r = copy.deepcopy(resource)
    r["pk"] = pk
    r["fields"]["uuid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"gnbr-bench-{pk}"))
    r["fields"]["title"] = f"Benchmark document {pk} — ünïcødé «{i % 97}»"
    r["fields"]["alternate"] = None
    base.append(r)
    d = copy.deepcopy(document)
    d["pk"] = pk
    documents.append(d)

with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(fixtures)):
        if name == "base.json":
            data = json.dumps(base)
        elif name == "documents.json":
            data = json.dumps(documents)
        else:
            data = open(os.path.join(fixtures, name), encoding="utf-8").read()
        z.writestr(f"fixtures/{name}", data)
md5 = hashlib.md5(open(out, "rb").read()).hexdigest()
open(os.path.splitext(out)[0] + ".md5", "w").write(md5)
print(f"{out}: {len([o for o in base if o['model'] == 'base.resourcebase'])} resources")
