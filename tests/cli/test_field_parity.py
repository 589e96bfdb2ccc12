"""Every field of the configuration kinds' schemas is accounted for.

docs/compatibility.md, "Fields of the configuration kinds, against MetalLB
v0.16", has a row per field of `IPAddressPool`, `L2Advertisement`,
`BGPAdvertisement`, `BGPPeer`, `BFDProfile` and `Community`: supported
(citing a test that exercises it) or not (with the reason).  This walks
the openAPIV3Schema of each of those CRDs in deploy/ironlb.yaml (every
served version) and fails when a field has no row, when a row names a
field no schema has, and when a cited test is not where the row says.
A new field in the schema therefore needs its row, and its test, in the
same change."""
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "ironlb.yaml"
DOC = ROOT / "docs" / "compatibility.md"
SECTION = "## Fields of the configuration kinds, against MetalLB v0.16"
KINDS = {"IPAddressPool", "L2Advertisement", "BGPAdvertisement", "BGPPeer", "BFDProfile",
         "Community"}
STATES = ("supported", "accepted without effect", "not implemented")
# `tests/x.py::test_name` or `tests/x.c` "a scenario's name"
CITE = re.compile(r'`(tests/[^`:\s]+)(?:::(\w+))?`(?:\s+"([^"]+)")?')


def is_selector(schema):
    props = schema.get("properties") or {}
    return "matchLabels" in props or "matchExpressions" in props


def fields_of(schema, path, out):
    """Field paths under schema (arrays as their items' fields); a label
    selector is one field, not its matchLabels / matchExpressions."""
    for key, sub in (schema.get("properties") or {}).items():
        p = f"{path}.{key}"
        out.add(p)
        if is_selector(sub) or is_selector(sub.get("items") or {}):
            continue
        fields_of(sub, p, out)
        if "items" in sub:
            fields_of(sub["items"], p, out)


def schema_fields():
    """{(kind, field path)} over every version of the six CRDs."""
    out = set()
    for doc in yaml.safe_load_all(MANIFEST.read_text()):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        kind = doc["spec"]["names"]["kind"]
        if doc["spec"]["group"] != "metallb.io" or kind not in KINDS:
            continue
        for v in doc["spec"]["versions"]:
            top = v["schema"]["openAPIV3Schema"]["properties"]
            for part in ("spec", "status"):
                if part in top:
                    paths = set()
                    fields_of(top[part], part, paths)
                    out |= {(kind, p) for p in paths}
    return out


def table_rows():
    """{(kind, field): (state cell, test-or-reason cell)} from the doc's
    section; a field listed twice is an error."""
    text = DOC.read_text()
    assert SECTION in text, f"{DOC}: no section {SECTION!r}"
    body = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[1].startswith("`"):
            continue
        kind, field, _metallb, state, why = cells
        key = (kind, field.strip("`"))
        assert key not in rows, f"{DOC}: {key} listed twice"
        rows[key] = (state, why)
    return rows


def test_kinds_are_all_there():
    kinds = {k for k, _ in schema_fields()}
    assert kinds == KINDS, kinds


def test_every_schema_field_has_a_row():
    missing = sorted(schema_fields() - set(table_rows()))
    assert not missing, (f"fields of deploy/ironlb.yaml's schemas with no row in {DOC.name} "
                         f"({SECTION}): {missing}")


def test_every_row_is_a_schema_field():
    stale = sorted(set(table_rows()) - schema_fields())
    assert not stale, f"rows of {DOC.name} naming no schema field: {stale}"


def test_each_row_says_how_and_proves_it():
    problems = []
    for (kind, field), (state, why) in sorted(table_rows().items()):
        where = f"{kind} {field}"
        if not state.startswith(STATES):
            problems.append(f"{where}: state {state!r} is none of {STATES}")
            continue
        cites = CITE.findall(why)
        if state.startswith("supported"):
            if not cites:
                problems.append(f"{where}: supported, but no test cited ({why!r})")
            for path, func, scenario in cites:
                f = ROOT / path
                if not f.is_file():
                    problems.append(f"{where}: {path} does not exist")
                    continue
                src = f.read_text(errors="replace")
                if func and not re.search(rf"\b{func}\s*\(", src):
                    problems.append(f"{where}: no {func} in {path}")
                if scenario and f'"{scenario}"' not in src:
                    problems.append(f"{where}: no scenario \"{scenario}\" in {path}")
                if not func and not scenario:
                    problems.append(f"{where}: cite a test in {path} (::name or \"scenario\")")
        elif cites or len(why) < 20:
            problems.append(f"{where}: {state}, so the last column gives the reason: {why!r}")
    assert not problems, "\n".join(problems)
