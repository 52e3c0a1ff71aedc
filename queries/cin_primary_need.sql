-- title: Children in need at 31 March by primary need
-- definition: >
--   Distinct children in need at 31 March (as in cin_at_31_march: referral on or before 31 March, not closed
--   by it, NFA referrals left out), by the primary need code of their latest open episode (latest referral
--   date, then highest episode id, when a child has more than one open episode).
-- source: >
--   DfE, Children in need census 2024 to 2025 guide, PrimaryNeedCode (N00101); DfE statistics
--   "Children in need", table of children in need at 31 March by primary need.
-- unit: count of children
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [primary_need, age_band, sex, team]
-- columns:
--   - {name: primary_need, kind: dimension, label: Primary need}
--   - {name: age_band, kind: dimension, label: Age at 31 March}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: team, kind: dimension, label: Team}
--   - {name: children, kind: count, label: Children in need at 31 March}
WITH base AS (
    -- children with an open CIN episode at 31 March and its primary need (the latest referral's), worked out at
    -- build time (derived.sql, `child_census`)
    SELECT child_id,
           primary_need_label(cin_need) AS need_v,
           child_age_band(dob, expected_dob, census_end($census_year)) AS age_band_v,
           sex AS sex_v, team AS team_v
    FROM child_census
    WHERE census_year = census_clamp($census_year) AND cin_open
),
fine AS (
    SELECT need_v, age_band_v, sex_v, team_v,
           count(*) AS n
    FROM base
    GROUP BY ALL
)
-- The cube is rolled up from the finest cells (one aggregation over base) joined with the grouping masks,
-- instead of GROUP BY CUBE's one aggregation over base per grouping set; counts add up, so every cell and
-- margin is the same (macros.sql, "cubes from pre-aggregates").
-- base holds one row per child, so count(*) counts distinct children (cheaper than DISTINCT in a cube).
SELECT cube_label(m.g, 0, f.need_v) AS primary_need,
       cube_label(m.g, 1, f.age_band_v) AS age_band,
       cube_label(m.g, 2, f.sex_v) AS sex,
       cube_label(m.g, 3, f.team_v) AS team,
       CAST(coalesce(sum(f.n), 0) AS BIGINT) AS children
FROM cube_masks(4) m LEFT JOIN fine f ON TRUE
WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
GROUP BY m.g, primary_need, age_band, sex, team
ORDER BY ALL
