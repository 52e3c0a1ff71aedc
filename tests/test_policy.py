"""Policy as data: the shipped policy loads, mistakes are named (file, key, reason), and the CLI commands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from helpers_policy import KEY_ENV, build_warehouse, write_queries
from typer.testing import CliRunner

from dashboard.cli import app
from dashboard.config import POLICY_DIR
from dashboard.policy import PolicyError, load_policy
from dashboard.policy.model import schema_columns


def test_shipped_policy_classifies_every_schema_column():
    pol = load_policy()
    schema = schema_columns()
    assert {(t, c) for t, cols in schema.items() for c in cols} == set(pol.columns)
    # the default catalogue of roles, as the brief describes it
    g = {r: {p: (x.tier, x.scope, x.ruleset) for p, x in role.grants.items()} for r, role in pol.roles.items()}
    assert g["service_manager"]["service_management"] == ("aggregate", "whole_authority", "dfe")
    assert g["team_manager"]["direct_care"] == ("identifiable", "own_team", None)
    assert g["social_worker"] == {"direct_care": ("identifiable", "own_caseload", None)}
    assert g["bi_analyst"] == {"planning": ("pseudonymised", "whole_authority", "dfe")}
    assert g["partner"]["planning"][2] == "partner"
    assert pol.purposes["planning"].exclude_objectors and not pol.purposes["direct_care"].exclude_objectors


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "pol"
    shutil.copytree(POLICY_DIR, d)
    return d


def _edit(d: Path, name: str, change) -> None:
    data = yaml.safe_load((d / name).read_text())
    change(data)
    (d / name).write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize("name,change,expected", [
    ("roles.yml", lambda d: d["roles"]["partner"]["grants"]["planning"].update(ruleset="lenient"),
     r"roles.yml: roles.partner.grants.planning.ruleset: unknown rule-set 'lenient'"),
    ("roles.yml", lambda d: d["roles"]["partner"]["grants"].update(marketing={"tier": "aggregate",
                                                                             "scope": "whole_authority",
                                                                             "ruleset": "dfe"}),
     r"roles.yml: roles.partner.grants.marketing: unknown purpose 'marketing' - a grant without a lawful basis"),
    ("roles.yml", lambda d: d["roles"]["partner"].update(superuser=True),
     r"roles.yml: roles.partner.superuser: unknown key"),
    ("roles.yml", lambda d: d["roles"]["bi_analyst"]["grants"]["planning"].pop("ruleset"),
     r"roles.yml: roles.bi_analyst.grants.planning.ruleset: required for the pseudonymised tier"),
    ("purposes.yml", lambda d: d["purposes"]["planning"].update(lawful_basis={"article_6": ""}),
     r"purposes.yml: purposes.planning.lawful_basis.article_6: empty"),
    ("columns.yml", lambda d: d["tables"]["child"]["columns"].pop("dob"),
     r"columns.yml: tables.child.columns.dob: schema column left unclassified"),
    ("columns.yml", lambda d: d["tables"]["child"]["columns"].update(dob="public"),
     r"columns.yml: tables.child.columns.dob: unknown class 'public'"),
    ("rulesets.yml", lambda d: d["rulesets"]["dfe"].update(suppress_max=-1),
     r"rulesets.yml: rulesets.dfe.suppress_max: must be a whole number"),
    ("rulesets.yml", lambda d: d["rulesets"]["dfe"].update(max_dimensions=0),
     r"rulesets.yml: rulesets.dfe.max_dimensions: must be a whole number >= 1"),
    ("rulesets.yml", lambda d: d["rulesets"]["nhs"].update(max_dimensions="all"),
     r"rulesets.yml: rulesets.nhs.max_dimensions: must be a whole number >= 1"),
    ("claims.yml", lambda d: d["roles"].update({"CSC.Root": "root"}),
     r"claims.yml: roles.CSC.Root: unknown role 'root'"),
    ("rulesets.yml", lambda d: d["rulesets"]["dfe"].update(search="fastest"),
     r"rulesets.yml: rulesets.dfe.search: must be optimal or hypercube"),
    ("anonymity.yml", lambda d: d.update(k=1),
     r"anonymity.yml: k: must be a whole number >= 2"),
    ("anonymity.yml", lambda d: d["key_variables"].append("child.shoe_size"),
     r"anonymity.yml: key_variables\[6\]: 'child.shoe_size' is not a classified column"),
    ("anonymity.yml", lambda d: d["key_variables"].append("person_identifier.nhs_number"),
     r"anonymity.yml: key_variables\[6\]: 'person_identifier.nhs_number' is a direct identifier"),
    ("anonymity.yml", lambda d: d.pop("k"),
     r"anonymity.yml: \(top\): missing required key 'k'"),
])
def test_policy_mistakes_are_named(tmp_path, name, change, expected):
    d = _copy(tmp_path)
    _edit(d, name, change)
    with pytest.raises(PolicyError, match=expected):
        load_policy(d)


def test_bad_yaml_is_named(tmp_path):
    d = _copy(tmp_path)
    (d / "teams.yml").write_text("teams: [unclosed\n")
    with pytest.raises(PolicyError, match=r"teams.yml: not valid YAML"):
        load_policy(d)


# ---------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    wh = build_warehouse(tmp_path / "w.duckdb")
    q = write_queries(tmp_path / "q")
    for k, v in KEY_ENV.items():
        monkeypatch.setenv(k, v)
    base = ["--warehouse", str(wh), "--audit", str(tmp_path / "audit.duckdb")]
    return CliRunner(), base, q


@pytest.mark.functional
def test_cli_query_json_as_service_manager(cli_env):
    runner, base, q = cli_env
    r = runner.invoke(app, [*base, "query", "children_by_team_sex", "--as", "service_manager", "--user", "sam",
                            "--queries", str(q), "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["query"] == "children_by_team_sex" and out["ruleset"] == "dfe"
    assert out["principal"]["role"] == "service_manager"
    assert out["columns"][:3] == [{"name": "team", "kind": "dimension"}, {"name": "sex", "kind": "dimension"},
                                  {"name": "children", "kind": "count"}]
    rows = {(r[0], r[1]): r[2] for r in out["rows"]}
    assert rows[("T02", "Total")] == 6 and rows[("T01", "Total")] == "c"


@pytest.mark.functional
def test_cli_refusal_exits_non_zero_with_reason(cli_env):
    runner, base, q = cli_env
    r = runner.invoke(app, [*base, "query", "caseload", "--as", "partner", "--queries", str(q)])
    assert r.exit_code != 0
    assert "refused" in r.stderr and "counts only" in r.stderr and "Traceback" not in r.output


@pytest.mark.functional
def test_cli_social_worker_csv_shows_own_caseload(cli_env):
    runner, base, q = cli_env
    r = runner.invoke(app, [*base, "query", "caseload", "--as", "social_worker", "--worker", "SW001", "--team",
                            "T01", "--queries", str(q), "--format", "csv"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("child_id,given_name")
    assert [ln.split(",")[0] for ln in lines[1:]] == ["C01", "C02", "C03"]


@pytest.mark.functional
def test_cli_queries_lists_closed_values(cli_env):
    runner, base, q = cli_env
    r = runner.invoke(app, [*base, "queries", "--queries", str(q), "--format", "json"])
    assert r.exit_code == 0, r.output
    spec = {x["name"]: x for x in json.loads(r.stdout)}
    assert spec["children_by_team_sex"]["parameters"][0]["allowed"] == [2025]
    assert spec["children_by_team_sex"]["dimensions"] == ["team", "sex"]


@pytest.mark.functional
def test_cli_policy_check_and_explain(cli_env, tmp_path):
    runner, base, q = cli_env
    r = runner.invoke(app, [*base, "policy", "check", "--queries", str(q)])
    assert r.exit_code == 0 and "policy OK" in r.stdout
    assert "note" in r.stderr                                   # the unclassified column is reported
    r = runner.invoke(app, [*base, "policy", "explain", "--as", "bi_analyst"])
    assert r.exit_code == 0
    assert "pseudonyms" in r.stdout and "objected" in r.stdout and "Art 9(2)(j)" in r.stdout
    assert "k-anonymous (k = 5)" in " ".join(r.stdout.split())
    r = runner.invoke(app, [*base, "policy", "explain", "--as", "service_manager"])
    assert r.exit_code == 0 and "k-anonymous" not in r.stdout          # counts only: no rows to make anonymous
    bad = _copy(tmp_path)
    _edit(bad, "columns.yml", lambda d: d["tables"]["episode"]["columns"].pop("home_post"))
    r = runner.invoke(app, [*base, "policy", "check", "--policies", str(bad), "--queries", str(q)])
    assert r.exit_code != 0 and "tables.episode.columns.home_post: schema column left unclassified" in r.stderr


def test_shipped_rule_sets_publish_at_most_two_dimensions():
    # the linked-tables protection (docs/privacy-model.md section 4) is audited for 2-way tables
    assert {name: rs.max_dimensions for name, rs in load_policy().rulesets.items()} == \
        {"dfe": 2, "nhs": 2, "ons": 2, "partner": 2}
