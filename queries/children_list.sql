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
WITH y AS (SELECT census_start($census_year) AS s, census_end($census_year) AS e),
active AS (
    SELECT child_id FROM cin_episode, y WHERE referral_date <= y.e AND (closure_date IS NULL OR closure_date >= y.s)
    UNION
    SELECT child_id FROM cp_plan, y WHERE start_date <= y.e AND (end_date IS NULL OR end_date >= y.s)
    UNION
    SELECT child_id FROM episode, y WHERE decom <= y.e AND (dec IS NULL OR dec >= y.s)
),
alloc AS (
    SELECT a.child_id, arg_max(a.team_id, alloc_rank(a.start_date, a.team_id)) AS team,
           arg_max(a.worker_id, {'start': a.start_date, 'team': a.team_id, 'worker': a.worker_id}) AS worker
    FROM allocation a, y
    WHERE a.start_date <= y.e AND (a.end_date IS NULL OR a.end_date > y.s)
    GROUP BY a.child_id
),
cin AS (
    SELECT DISTINCT child_id FROM cin_episode, y WHERE NOT referral_nfa AND open_at(referral_date, closure_date, y.e)
),
cpp AS (
    SELECT DISTINCT child_id FROM cp_plan, y WHERE open_at(start_date, end_date, y.e)
),
cla AS (
    SELECT DISTINCT child_id FROM cla_on(census_end($census_year))
)
SELECT a.child_id, pi.given_name, pi.family_name, c.dob, c.sex, c.ethnicity, pi.postcode, pi.nhs_number,
       coalesce(c.upn, pi.upn) AS upn,
       coalesce(al.team, 'Unallocated') AS team, al.worker,
       cin.child_id IS NOT NULL AS cin_open,
       cpp.child_id IS NOT NULL AS cp_open,
       cla.child_id IS NOT NULL AS looked_after
FROM active a
LEFT JOIN child c USING (child_id)
LEFT JOIN person_identifier pi USING (child_id)
LEFT JOIN alloc al USING (child_id)
LEFT JOIN cin USING (child_id)
LEFT JOIN cpp USING (child_id)
LEFT JOIN cla USING (child_id)
ORDER BY pi.family_name NULLS LAST, pi.given_name NULLS LAST, a.child_id
