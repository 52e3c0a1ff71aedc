-- title: Stability Index - placement moves
-- definition: >
--   Children looked after at 31 March (V3/V4 short breaks left out) and their changes of carer during the
--   census year: new episodes starting in the year with reason for new episode S, P or B (T, U and L keep the
--   carer), leaving out the child's first entry into care in the year (at most one S episode is not a move),
--   temporary placements (T0-T4) and the return from a temporary placement to the placement held before it.
--   Headline: the share of children with 2 or more moves.
-- source: >
--   Children's Commissioner for England, Stability Index technical report (placement moves); SSDA903
--   2024 to 2025 guide (RNE codes).
-- unit: count of children
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [age_band, sex, ethnicity_group, placement_type, team]
-- columns:
--   - {name: age_band, kind: dimension, label: Age at 31 March}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: placement_type, kind: dimension, label: Placement at 31 March}
--   - {name: team, kind: dimension, label: Team}
--   - {name: children, kind: count, label: Children looked after at 31 March}
--   - {name: children_1plus_moves, kind: count, label: With 1 or more moves}
--   - {name: children_2plus_moves, kind: count, label: With 2 or more moves}
--   - {name: pct_2plus_moves, kind: percentage, numerator: children_2plus_moves, denominator: children, label: "% with 2+ moves"}
WITH cla AS (
    -- children looked after at 31 March with their groupings, worked out at build time (derived.sql,
    -- `child_census`: the cla_on episode, the team at 31 March, the child's labels)
    SELECT child_id, cla_place AS place, team, dob, expected_dob, sex, ethnicity_group
    FROM child_census
    WHERE census_year = census_clamp($census_year) AND cla_open
),
moves AS (
    SELECT pe.child_id,
           greatest(count(*) FILTER (WHERE pe.is_carer_change AND in_census_year(pe.decom, $census_year))
                    - max(CASE WHEN in_census_year(pe.period_start, $census_year) THEN 1 ELSE 0 END), 0) AS moves
    FROM placement_episodes() pe SEMI JOIN cla USING (child_id)
    GROUP BY pe.child_id
),
base AS (
    SELECT cla.child_id, coalesce(m.moves, 0) AS moves,
           child_age_band(cla.dob, cla.expected_dob, census_end($census_year)) AS age_band_v,
           cla.sex AS sex_v,
           cla.ethnicity_group AS ethnicity_v,
           placement_group(cla.place) AS place_v,
           cla.team AS team_v
    FROM cla
    LEFT JOIN moves m USING (child_id)
),
fine AS (
    SELECT age_band_v, sex_v, ethnicity_v, place_v, team_v,
           count(*) AS n,
           count(*) FILTER (WHERE moves >= 1) AS f0,
           count(*) FILTER (WHERE moves >= 2) AS f1
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
       cube_label(m.g, 3, f.place_v) AS placement_type,
       cube_label(m.g, 4, f.team_v) AS team,
       CAST(coalesce(sum(f.n), 0) AS BIGINT) AS children,
       CAST(coalesce(sum(f.f0), 0) AS BIGINT) AS children_1plus_moves,
       CAST(coalesce(sum(f.f1), 0) AS BIGINT) AS children_2plus_moves,
       round(100.0 * CAST(coalesce(sum(f.f1), 0) AS BIGINT) / CAST(coalesce(sum(f.n), 0) AS BIGINT), 1) AS pct_2plus_moves
FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
GROUP BY m.g, age_band, sex, ethnicity_group, placement_type, team
ORDER BY ALL
