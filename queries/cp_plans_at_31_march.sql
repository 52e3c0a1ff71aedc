-- title: Children on a child protection plan at 31 March
-- definition: >
--   Distinct children with a child protection plan started on or before 31 March and not ended on or before
--   31 March, by the latest category of abuse of that plan (if a child has two open plans, the one that
--   started last, then the highest plan id). Age band at 31 March; team allocated at 31 March.
-- source: >
--   DfE, Children in need census 2024 to 2025 guide (CPPstartDate N00105, CPPendDate N00115,
--   LatestCategoryOfAbuse N00114); DfE statistics "Children in need", children on a CP plan at 31 March.
-- unit: count of children
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [latest_category, age_band, sex, ethnicity_group, team]
-- columns:
--   - {name: latest_category, kind: dimension, label: Latest category of abuse}
--   - {name: age_band, kind: dimension, label: Age at 31 March}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: team, kind: dimension, label: Team}
--   - {name: children, kind: count, label: Children on a CP plan at 31 March}
WITH base AS (
    -- children with an open CP plan at 31 March and its latest category (the latest plan's), worked out at build
    -- time (derived.sql, `child_census`)
    SELECT child_id,
           abuse_category_label(cp_category) AS cat_v,
           child_age_band(dob, expected_dob, census_end($census_year)) AS age_band_v,
           sex AS sex_v, ethnicity_group AS ethnicity_v, team AS team_v
    FROM child_census
    WHERE census_year = census_clamp($census_year) AND cp_open
),
fine AS (
    SELECT cat_v, age_band_v, sex_v, ethnicity_v, team_v,
           count(*) AS n
    FROM base
    GROUP BY ALL
)
-- The cube is rolled up from the finest cells (one aggregation over base) joined with the grouping masks,
-- instead of GROUP BY CUBE's one aggregation over base per grouping set; counts add up, so every cell and
-- margin is the same (macros.sql, "cubes from pre-aggregates").
-- base holds one row per child, so count(*) counts distinct children (cheaper than DISTINCT in a cube).
SELECT cube_label(m.g, 0, f.cat_v) AS latest_category,
       cube_label(m.g, 1, f.age_band_v) AS age_band,
       cube_label(m.g, 2, f.sex_v) AS sex,
       cube_label(m.g, 3, f.ethnicity_v) AS ethnicity_group,
       cube_label(m.g, 4, f.team_v) AS team,
       CAST(coalesce(sum(f.n), 0) AS BIGINT) AS children
FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
GROUP BY m.g, latest_category, age_band, sex, ethnicity_group, team
ORDER BY ALL
