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
    SELECT child_id, place FROM cla_on(census_end($census_year))
),
moves AS (
    SELECT pe.child_id,
           greatest(count(*) FILTER (WHERE pe.is_carer_change AND in_census_year(pe.decom, $census_year))
                    - max(CASE WHEN in_census_year(pe.period_start, $census_year) THEN 1 ELSE 0 END), 0) AS moves
    FROM placement_episodes() pe SEMI JOIN cla USING (child_id)
    GROUP BY pe.child_id
),
-- team at 31 March (the team_on rule), worked out only for the children in scope: cheaper than team_on()
tm AS (
    SELECT a.child_id, arg_max(a.team_id, alloc_rank(a.start_date, a.team_id)) AS team
    FROM allocation a SEMI JOIN cla USING (child_id)
    WHERE open_at(a.start_date, a.end_date, census_end($census_year))
    GROUP BY a.child_id
),
base AS (
    SELECT cla.child_id, coalesce(m.moves, 0) AS moves,
           child_age_band(c.dob, c.expected_dob, census_end($census_year)) AS age_band_v,
           sex_label(c.sex) AS sex_v,
           ethnicity_label(c.ethnicity_group) AS ethnicity_v,
           placement_group(cla.place) AS place_v,
           coalesce(t.team, 'Unallocated') AS team_v
    FROM cla
    LEFT JOIN moves m USING (child_id)
    LEFT JOIN child c USING (child_id)
    LEFT JOIN tm t USING (child_id)
)
-- base holds one row per child, so count(*) counts distinct children (cheaper than DISTINCT in a cube).
SELECT CASE WHEN GROUPING(age_band_v) = 1 THEN 'Total' ELSE age_band_v END AS age_band,
       CASE WHEN GROUPING(sex_v) = 1 THEN 'Total' ELSE sex_v END AS sex,
       CASE WHEN GROUPING(ethnicity_v) = 1 THEN 'Total' ELSE ethnicity_v END AS ethnicity_group,
       CASE WHEN GROUPING(place_v) = 1 THEN 'Total' ELSE place_v END AS placement_type,
       CASE WHEN GROUPING(team_v) = 1 THEN 'Total' ELSE team_v END AS team,
       count(*) AS children,
       count(*) FILTER (WHERE moves >= 1) AS children_1plus_moves,
       count(*) FILTER (WHERE moves >= 2) AS children_2plus_moves,
       round(100.0 * count(*) FILTER (WHERE moves >= 2) / count(*), 1) AS pct_2plus_moves
FROM base
GROUP BY CUBE (age_band_v, sex_v, ethnicity_v, place_v, team_v)
ORDER BY ALL
