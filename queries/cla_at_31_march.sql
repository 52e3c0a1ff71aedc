-- title: Children looked after at 31 March
-- definition: >
--   Distinct children with a 903 episode open at 31 March (started on or before 31 March, not ended on or
--   before it), leaving out episodes under legal status V3 or V4 (short breaks). Legal status and placement
--   type of the open episode (if a child has two open episodes, the one that started last). Age band at
--   31 March; team allocated at 31 March.
-- source: >
--   DfE, SSDA903 children looked after return 2024 to 2025 guide (DECOM, DEC, LS, PLACE); DfE
--   statistics "Children looked after in England including adoptions", children looked after at 31 March.
-- unit: count of children
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [legal_status, placement_type, age_band, sex, team]
-- columns:
--   - {name: legal_status, kind: dimension, label: Legal status}
--   - {name: placement_type, kind: dimension, label: Placement type}
--   - {name: age_band, kind: dimension, label: Age at 31 March}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: team, kind: dimension, label: Team}
--   - {name: children, kind: count, label: Children looked after at 31 March}
WITH base AS (
    -- children looked after at 31 March (the cla_on episode's legal status and placement), worked out at build
    -- time (derived.sql, `child_census`)
    SELECT child_id,
           legal_status_group(cla_ls) AS ls_v,
           placement_group(cla_place) AS place_v,
           child_age_band(dob, expected_dob, census_end($census_year)) AS age_band_v,
           sex AS sex_v, team AS team_v
    FROM child_census
    WHERE census_year = census_clamp($census_year) AND cla_open
),
fine AS (
    SELECT ls_v, place_v, age_band_v, sex_v, team_v,
           count(*) AS n
    FROM base
    GROUP BY ALL
)
-- The cube is rolled up from the finest cells (one aggregation over base) joined with the grouping masks,
-- instead of GROUP BY CUBE's one aggregation over base per grouping set; counts add up, so every cell and
-- margin is the same (macros.sql, "cubes from pre-aggregates").
-- base holds one row per child, so count(*) counts distinct children (cheaper than DISTINCT in a cube).
SELECT cube_label(m.g, 0, f.ls_v) AS legal_status,
       cube_label(m.g, 1, f.place_v) AS placement_type,
       cube_label(m.g, 2, f.age_band_v) AS age_band,
       cube_label(m.g, 3, f.sex_v) AS sex,
       cube_label(m.g, 4, f.team_v) AS team,
       CAST(coalesce(sum(f.n), 0) AS BIGINT) AS children
FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
GROUP BY m.g, legal_status, placement_type, age_band, sex, team
ORDER BY ALL
