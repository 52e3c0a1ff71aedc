-- title: Children looked after with 3 or more placements in the year
-- definition: >
--   Children looked after at 31 March (V3/V4 short breaks left out) and how many had three or more placements
--   during the census year. Placements in the year = 1 if the child was already looked after when the year
--   began (an episode that started before 1 April and had not ended before it), plus each new placement that
--   started in the year: an episode with reason for new episode S, P, B, T or U (never L, a legal status change
--   only). Temporary placements (PLACE T0-T4) are not counted, and neither is the return from a temporary
--   placement to the placement held before it (same PLACE, provider, URN and postcode). Age band at 31 March;
--   team allocated at 31 March.
-- source: >
--   DfE statistics "Children looked after in England including adoptions", placement stability
--   (children with 3 or more placements during the year); SSDA903 2024 to 2025 guide (RNE codes; temporary
--   placements T0-T4).
-- unit: count of children
-- shape: aggregate
-- england: {year: 2024, pct_3plus: 10.0}
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
--   - {name: children_3plus, kind: count, label: With 3 or more placements}
--   - {name: pct_3plus, kind: percentage, numerator: children_3plus, denominator: children, label: "% with 3+ placements"}
WITH cla AS (
    -- children looked after at 31 March with their groupings, worked out at build time (derived.sql,
    -- `child_census`: the cla_on episode, the team at 31 March, the child's labels)
    SELECT child_id, cla_place AS place, team, dob, expected_dob, sex, ethnicity_group
    FROM child_census
    WHERE census_year = census_clamp($census_year) AND cla_open
),
pe AS (
    SELECT pe.* FROM placement_episodes() pe SEMI JOIN cla USING (child_id)
),
-- already looked after when the year began (any non-V3/V4 episode, a temporary one included, spanning 1 April)
at_start AS (
    SELECT DISTINCT st.child_id
    FROM episodes_stitched() st SEMI JOIN cla USING (child_id)
    WHERE NOT is_short_break(st.ls) AND st.decom < census_start($census_year)
      AND (st.dec IS NULL OR st.dec >= census_start($census_year))
),
counts AS (
    SELECT cla.child_id,
           (CASE WHEN s.child_id IS NOT NULL THEN 1 ELSE 0 END)
           + count(pe.child_id) FILTER (WHERE pe.is_new_placement AND in_census_year(pe.decom, $census_year))
             AS placements
    FROM cla
    LEFT JOIN at_start s USING (child_id)
    LEFT JOIN pe USING (child_id)
    GROUP BY cla.child_id, s.child_id
),
base AS (
    SELECT cla.child_id, coalesce(k.placements, 0) AS placements,
           child_age_band(cla.dob, cla.expected_dob, census_end($census_year)) AS age_band_v,
           cla.sex AS sex_v,
           cla.ethnicity_group AS ethnicity_v,
           placement_group(cla.place) AS place_v,
           cla.team AS team_v
    FROM cla
    LEFT JOIN counts k USING (child_id)
),
fine AS (
    SELECT age_band_v, sex_v, ethnicity_v, place_v, team_v,
           count(*) AS n,
           count(*) FILTER (WHERE placements >= 3) AS f0
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
       CAST(coalesce(sum(f.f0), 0) AS BIGINT) AS children_3plus,
       round(100.0 * CAST(coalesce(sum(f.f0), 0) AS BIGINT) / CAST(coalesce(sum(f.n), 0) AS BIGINT), 1) AS pct_3plus
FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
GROUP BY m.g, age_band, sex, ethnicity_group, placement_type, team
ORDER BY ALL
