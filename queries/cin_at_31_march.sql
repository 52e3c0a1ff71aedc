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
WITH base AS (
    -- children with an open CIN episode at 31 March, with their groupings, worked out at build time
    -- (derived.sql, `child_census`; the age band depends on the year asked for)
    SELECT child_id,
           child_age_band(dob, expected_dob, census_end($census_year)) AS age_band_v,
           sex AS sex_v, ethnicity_group AS ethnicity_v, disability AS disability_v, team AS team_v
    FROM child_census
    WHERE census_year = census_clamp($census_year) AND cin_open
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
