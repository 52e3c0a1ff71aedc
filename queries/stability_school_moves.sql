-- title: Stability Index - mid-year school moves
-- definition: >
--   Children looked after at 31 March (V3/V4 short breaks left out) aged 5 to 15 at 31 March (school age),
--   and how many had a mid-year school move in the census year: a move (first day at the new school) dated in
--   the year but not from 1 August to 21 September (the summer break and the first three weeks of the autumn
--   term, when moves are the normal start of a school year), and not a move from a primary to a secondary
--   school. Moves to the same school (same URN) are ignored.
-- source: >
--   Children's Commissioner for England, Stability Index technical report (school moves, using the
--   school census linked by UPN); DfE statistics "Outcomes for children in need, including children looked
--   after" (mid-year school moves).
-- unit: count of children
-- shape: aggregate
-- england: {year: 2024, pct_moved: 8.0}
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [age_band, sex, ethnicity_group, team]
-- columns:
--   - {name: age_band, kind: dimension, label: Age at 31 March}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: team, kind: dimension, label: Team}
--   - {name: children, kind: count, label: School-age children looked after at 31 March}
--   - {name: children_moved, kind: count, label: With a mid-year school move}
--   - {name: pct_moved, kind: percentage, numerator: children_moved, denominator: children, label: "% with a mid-year school move"}
WITH ref AS (SELECT census_end($census_year) AS d),
cla AS (
    -- children looked after at 31 March, aged 5 to 15, with their groupings, worked out at build time
    -- (derived.sql, `child_census`)
    SELECT e.child_id, e.team, e.dob, e.expected_dob, e.sex, e.ethnicity_group
    FROM child_census e, ref
    WHERE e.census_year = census_clamp($census_year) AND e.cla_open
      AND age_at(e.dob, ref.d) BETWEEN 5 AND 15
),
moved AS (
    SELECT DISTINCT m.child_id
    FROM school_move m SEMI JOIN cla USING (child_id)
    WHERE in_census_year(m.move_date, $census_year)
      AND NOT (month(m.move_date) = 8 OR (month(m.move_date) = 9 AND day(m.move_date) <= 21))
      AND NOT (coalesce(lower(m.from_phase), '') = 'primary' AND coalesce(lower(m.to_phase), '') = 'secondary')
      AND m.from_urn IS DISTINCT FROM m.to_urn
),
base AS (
    SELECT cla.child_id, moved.child_id IS NOT NULL AS has_move,
           child_age_band(cla.dob, cla.expected_dob, ref.d) AS age_band_v,
           cla.sex AS sex_v,
           cla.ethnicity_group AS ethnicity_v,
           cla.team AS team_v
    FROM cla CROSS JOIN ref
    LEFT JOIN moved USING (child_id)
),
fine AS (
    SELECT age_band_v, sex_v, ethnicity_v, team_v,
           count(*) AS n,
           count(*) FILTER (WHERE has_move) AS f0
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
       CAST(coalesce(sum(f.f0), 0) AS BIGINT) AS children_moved,
       round(100.0 * CAST(coalesce(sum(f.f0), 0) AS BIGINT) / CAST(coalesce(sum(f.n), 0) AS BIGINT), 1) AS pct_moved
FROM cube_masks(4) m LEFT JOIN fine f ON TRUE
WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
GROUP BY m.g, age_band, sex, ethnicity_group, team
ORDER BY ALL
