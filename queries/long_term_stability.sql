-- title: Long-term placement stability
-- definition: >
--   Children looked after at 31 March (V3/V4 left out), under 16 at 31 March, who had been looked after
--   continuously for 2.5 years or more (their period of care, X1 episodes chained, started on or before the
--   date 30 months before 31 March), and how many of them had lived with the same carer for 2 years or more.
--   The current carer's start is found by walking back from the episode open at 31 March through episodes
--   with reason for new episode L, T or U (which keep the carer) to the last episode with S, P or B; a
--   temporary placement (T0-T4) and the return from it to the same placement do not change the carer.
-- source: >
--   DfE statistics "Children looked after in England including adoptions", long-term placement
--   stability (under 16s looked after for 2.5 years or more, in the same placement for 2 years). The DfE also
--   counts a child placed for adoption whose adoptive and previous placement together last 2 years: not done
--   here (see docs/measures.md).
-- unit: count of children
-- shape: aggregate
-- england: {year: 2024, pct_same_carer_2y: 68.0}
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [age_band, sex, ethnicity_group, placement_type, team]
-- columns:
--   - {name: age_band, kind: dimension, label: Age at 31 March}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: placement_type, kind: dimension, label: Placement at 31 March}
--   - {name: team, kind: dimension, label: Team}
--   - {name: children, kind: count, label: Under 16s looked after 2.5 years or more}
--   - {name: same_carer_2y, kind: count, label: With the same carer for 2 years or more}
--   - {name: pct_same_carer_2y, kind: percentage, numerator: same_carer_2y, denominator: children, label: "% same carer 2+ years"}
WITH ref AS (SELECT census_end($census_year) AS d),
cla AS (
    -- children looked after at 31 March (the cla_on episode's period and place) with their groupings, worked
    -- out at build time (derived.sql, `child_census`)
    SELECT e.child_id, e.cla_period_no AS period_no, e.cla_period_start AS period_start, e.cla_seq AS seq,
           e.cla_place AS place, e.team, e.dob, e.expected_dob, e.sex, e.ethnicity_group
    FROM child_census e, ref
    WHERE e.census_year = census_clamp($census_year) AND e.cla_open
      AND age_at(e.dob, ref.d) < 16
      AND e.cla_period_start <= ref.d - INTERVAL 30 MONTH
),
carer AS (
    SELECT cla.child_id, max(pe.decom) AS carer_start
    FROM cla JOIN placement_episodes() pe
      ON pe.child_id = cla.child_id AND pe.period_no = cla.period_no AND pe.seq <= cla.seq AND pe.is_carer_change
    GROUP BY cla.child_id
),
base AS (
    SELECT cla.child_id,
           coalesce(k.carer_start, cla.period_start) <= ref.d - INTERVAL 24 MONTH AS stable,
           child_age_band(cla.dob, cla.expected_dob, ref.d) AS age_band_v,
           cla.sex AS sex_v,
           cla.ethnicity_group AS ethnicity_v,
           placement_group(cla.place) AS place_v,
           cla.team AS team_v
    FROM cla CROSS JOIN ref
    LEFT JOIN carer k USING (child_id)
),
fine AS (
    SELECT age_band_v, sex_v, ethnicity_v, place_v, team_v,
           count(*) AS n,
           count(*) FILTER (WHERE stable) AS f0
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
       CAST(coalesce(sum(f.f0), 0) AS BIGINT) AS same_carer_2y,
       round(100.0 * CAST(coalesce(sum(f.f0), 0) AS BIGINT) / CAST(coalesce(sum(f.n), 0) AS BIGINT), 1) AS pct_same_carer_2y
FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
GROUP BY m.g, age_band, sex, ethnicity_group, placement_type, team
ORDER BY ALL
