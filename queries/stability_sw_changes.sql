-- title: Stability Index - social worker changes
-- definition: >
--   Children looked after at 31 March (V3/V4 short breaks left out) and the number of different social
--   workers recorded for them in the 903 social worker episodes (SWEpisodes, from 2023-24) that overlap the
--   census year; changes = social workers - 1. Headline: the share with 2 or more changes (3 or more social
--   workers in the year, which the DfE reports as high instability). A child with no SW episode in the year
--   counts in the denominator with no change.
-- source: >
--   DfE, SSDA903 2024 to 2025 guide (SWEpisodes: SW_ID, SW_DECOM, SW_DEC); DfE statistics "Children's
--   social work workforce" / "Children looked after" (children with 3 or more social workers); Children's
--   Commissioner Stability Index (social worker changes).
-- unit: count of children
-- shape: aggregate
-- england: {year: 2024, pct_2plus_changes: 27.0}
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [age_band, sex, ethnicity_group, team]
-- columns:
--   - {name: age_band, kind: dimension, label: Age at 31 March}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: team, kind: dimension, label: Team}
--   - {name: children, kind: count, label: Children looked after at 31 March}
--   - {name: children_2plus_changes, kind: count, label: With 3 or more social workers (2+ changes)}
--   - {name: pct_2plus_changes, kind: percentage, numerator: children_2plus_changes, denominator: children, label: "% with 2+ social worker changes"}
WITH cla AS (
    -- children looked after at 31 March with their groupings, worked out at build time (derived.sql,
    -- `child_census`: the cla_on episode, the team at 31 March, the child's labels)
    SELECT child_id, cla_place AS place, team, dob, expected_dob, sex, ethnicity_group
    FROM child_census
    WHERE census_year = census_clamp($census_year) AND cla_open
),
sw AS (
    SELECT s.child_id, count(DISTINCT s.sw_id) AS workers
    FROM sw_episode s SEMI JOIN cla USING (child_id)
    WHERE s.start_date <= census_end($census_year)
      AND (s.end_date IS NULL OR s.end_date >= census_start($census_year))
    GROUP BY s.child_id
),
base AS (
    SELECT cla.child_id, greatest(coalesce(sw.workers, 0) - 1, 0) AS changes,
           child_age_band(cla.dob, cla.expected_dob, census_end($census_year)) AS age_band_v,
           cla.sex AS sex_v,
           cla.ethnicity_group AS ethnicity_v,
           cla.team AS team_v
    FROM cla
    LEFT JOIN sw USING (child_id)
),
fine AS (
    SELECT age_band_v, sex_v, ethnicity_v, team_v,
           count(*) AS n,
           count(*) FILTER (WHERE changes >= 2) AS f0
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
       cube_label(m.g, 3, f.team_v) AS team,
       CAST(coalesce(sum(f.n), 0) AS BIGINT) AS children,
       CAST(coalesce(sum(f.f0), 0) AS BIGINT) AS children_2plus_changes,
       round(100.0 * CAST(coalesce(sum(f.f0), 0) AS BIGINT) / CAST(coalesce(sum(f.n), 0) AS BIGINT), 1) AS pct_2plus_changes
FROM cube_masks(4) m LEFT JOIN fine f ON TRUE
WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
GROUP BY m.g, age_band, sex, ethnicity_group, team
ORDER BY ALL
