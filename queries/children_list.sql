-- title: Children active in the year (case list)
-- definition: >
--   One row per child active in the census year: a CIN episode, child protection plan or 903 episode that
--   overlaps 1 April to 31 March. Identifiers and characteristics as recorded, the team and worker of the
--   latest allocation that overlaps the year (latest start, then highest team id), and whether at 31 March
--   the child was in need (open CIN episode, not NFA), on a CP plan, or looked after (V3/V4 left out).
-- source: >
--   Local case-management extract (identifiers, allocations); DfE CIN census and SSDA903 2024 to 2025
--   guides (status at 31 March as in cin_at_31_march, cp_plans_at_31_march, cla_at_31_march).
-- unit: children (one row each)
-- shape: rows
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: []
-- columns:
--   - {name: child_id, kind: value, label: Child ID, source: child.child_id}
--   - {name: given_name, kind: value, label: Given name, source: person_identifier.given_name}
--   - {name: family_name, kind: value, label: Family name, source: person_identifier.family_name}
--   - {name: dob, kind: value, label: Date of birth, source: child.dob}
--   - {name: sex, kind: value, label: Sex, source: child.sex}
--   - {name: ethnicity, kind: value, label: Ethnicity, source: child.ethnicity}
--   - {name: postcode, kind: value, label: Postcode, source: person_identifier.postcode}
--   - {name: nhs_number, kind: value, label: NHS number, source: person_identifier.nhs_number}
--   - {name: upn, kind: value, label: UPN, source: child.upn}
--   - {name: team, kind: value, label: Team, source: allocation.team_id}
--   - {name: worker, kind: value, label: Social worker, source: allocation.worker_id}
--   - {name: cin_open, kind: value, label: In need at 31 March, source: cin_episode.cin_episode_id}
--   - {name: cp_open, kind: value, label: On a CP plan at 31 March, source: cp_plan.cp_plan_id}
--   - {name: looked_after, kind: value, label: Looked after at 31 March, source: episode.episode_id}
SELECT child_id, given_name, family_name, dob, sex, ethnicity, postcode, nhs_number, upn, team, worker,
       cin_open, cp_open, looked_after
-- worked out once per census year and child at build time (derived.sql, `case_list`): who is active in the year,
-- the allocation, the status at 31 March, identifiers and the place in the list's order
FROM case_list
WHERE census_year = case_list_year($census_year)
  -- $child_scope is bound by the runner, never by the asker (run_query's `children`): NULL for everyone in the
  -- population, else the children the gate's relationship scope allows, so only their rows are read
  AND ($child_scope IS NULL OR child_id IN (SELECT unnest($child_scope)))
ORDER BY list_pos
