-- title: Children in need at 31 March
-- definition: >
--   Distinct children with a CIN episode open at 31 March of the census year: referral date on or before
--   31 March and closure date empty or after 31 March. Referrals marked no further action (NFA) are left out;
--   children still awaiting assessment count. Age band at 31 March; team allocated at 31 March.
-- source: >
--   DfE, Children in need census 2024 to 2025 guide (children in need at 31 March); DfE statistics
--   "Children in need", methodology, children in need at 31 March.
-- unit: count of children
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [age_band, sex, ethnicity_group, disability, team]
-- columns:
--   - {name: age_band, kind: dimension, label: Age at 31 March}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: disability, kind: dimension, label: Disability}
--   - {name: team, kind: dimension, label: Team}
--   - {name: children, kind: count, label: Children in need at 31 March}
WITH ref AS (SELECT census_end($census_year) AS d),
open_cin AS (
    SELECT DISTINCT e.child_id
    FROM cin_episode e, ref
    WHERE NOT e.referral_nfa AND open_at(e.referral_date, e.closure_date, ref.d)
),
-- team at 31 March (the team_on rule), worked out only for the children in scope: cheaper than team_on()
tm AS (
    SELECT a.child_id, arg_max(a.team_id, alloc_rank(a.start_date, a.team_id)) AS team
    FROM allocation a SEMI JOIN open_cin USING (child_id)
    WHERE open_at(a.start_date, a.end_date, census_end($census_year))
    GROUP BY a.child_id
),
base AS (
    SELECT o.child_id,
           child_age_band(c.dob, c.expected_dob, ref.d) AS age_band_v,
           sex_label(c.sex) AS sex_v,
           ethnicity_label(c.ethnicity_group) AS ethnicity_v,
           disability_label(c.is_disabled) AS disability_v,
           coalesce(t.team, 'Unallocated') AS team_v
    FROM open_cin o CROSS JOIN ref
    LEFT JOIN child c USING (child_id)
    LEFT JOIN tm t USING (child_id)
),
fine AS (
    SELECT age_band_v, sex_v, ethnicity_v, disability_v, team_v,
           count(*) AS n
    FROM base
    GROUP BY ALL
)
-- The cube is rolled up from the finest cells (one aggregation over base) joined with the grouping masks,
-- instead of GROUP BY CUBE's one aggregation over base per grouping set; counts add up, so every cell and
-- margin is the same (macros.sql, "cubes from pre-aggregates").
-- base holds one row per child, so count(*) counts distinct children (cheaper than DISTINCT in a cube).
SELECT cube_label(m.g, 0, f.age_band_v) AS age_band,
       cube_label(m.g, 1, f.sex_v) AS sex,
       cube_label(m.g, 2, f.ethnicity_v) AS ethnicity_group,
       cube_label(m.g, 3, f.disability_v) AS disability,
       cube_label(m.g, 4, f.team_v) AS team,
       CAST(coalesce(sum(f.n), 0) AS BIGINT) AS children
FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
GROUP BY m.g, age_band, sex, ethnicity_group, disability, team
ORDER BY ALL
