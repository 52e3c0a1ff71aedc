-- title: Children who ceased to be looked after in the year
-- definition: >
--   Periods of care that ended in the census year: episodes stitched into periods of care (X1 chains the next
--   episode, see docs/measures.md), the period's last episode has a reason ceased other than X1 and an end
--   date in the year. Periods made only of V3/V4 short breaks are left out. By reason ceased (grouped);
--   age band on ceasing; team allocated on the end date.
-- source: >
--   DfE, SSDA903 children looked after return 2024 to 2025 guide (DEC, REC); DfE statistics "Children
--   looked after in England including adoptions", children who ceased to be looked after during the year.
-- unit: count of periods of care
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [reason_ceased, age_band, sex, ethnicity_group, team]
-- columns:
--   - {name: reason_ceased, kind: dimension, label: Reason ceased}
--   - {name: age_band, kind: dimension, label: Age on ceasing}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: team, kind: dimension, label: Team}
--   - {name: ceased, kind: count, label: Ceased to be looked after}
--   - {name: children, kind: count, label: Children who ceased}
WITH p AS (
    SELECT DISTINCT child_id, period_no, period_end, last_value(rec) OVER (
               PARTITION BY child_id, period_no ORDER BY seq
               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS end_rec
    FROM episodes_stitched()
    -- every episode of a period carries its period_end, so this keeps whole periods: the ones ending in the year
    WHERE NOT period_short_breaks_only AND in_census_year(period_end, $census_year)
),
ended AS (
    SELECT * FROM p WHERE in_census_year(period_end, $census_year)
),
base AS (
    SELECT e.child_id,
           reason_ceased_group(e.end_rec) AS rec_v,
           cd.age_band AS age_band_v,
           cd.sex AS sex_v,
           cd.ethnicity_group AS ethnicity_v,
           cd.team AS team_v
    FROM ended e
    -- the child's age band, labels and team on the event date, worked out at build time
    -- (derived.sql, `child_day`)
    LEFT JOIN child_day cd
      ON cd.child_id = e.child_id AND cd.d = e.period_end AND cd.census_year = $census_year
),
kc AS (
    SELECT *, count(*) OVER (PARTITION BY child_id) AS combos
    FROM (SELECT DISTINCT child_id, rec_v, age_band_v, sex_v, ethnicity_v, team_v FROM base)
),
fine AS (
    SELECT rec_v, age_band_v, sex_v, ethnicity_v, team_v,
           count(*) AS n, 0 AS k1
    FROM base
    GROUP BY ALL
    UNION ALL
    SELECT rec_v, age_band_v, sex_v, ethnicity_v, team_v, 0, count(*)
    FROM kc WHERE combos = 1
    GROUP BY ALL
),
cells AS (
    SELECT m.g,
           cube_label(m.g, 0, f.rec_v) AS reason_ceased,
           cube_label(m.g, 1, f.age_band_v) AS age_band,
           cube_label(m.g, 2, f.sex_v) AS sex,
           cube_label(m.g, 3, f.ethnicity_v) AS ethnicity_group,
           cube_label(m.g, 4, f.team_v) AS team,
           CAST(coalesce(sum(f.n), 0) AS BIGINT) AS n,
           CAST(coalesce(sum(f.k1), 0) AS BIGINT) AS k1
    FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
    WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
    GROUP BY m.g, reason_ceased, age_band, sex, ethnicity_group, team
),
multi AS (
    SELECT m.g,
           cube_label(m.g, 0, kc.rec_v) AS reason_ceased,
           cube_label(m.g, 1, kc.age_band_v) AS age_band,
           cube_label(m.g, 2, kc.sex_v) AS sex,
           cube_label(m.g, 3, kc.ethnicity_v) AS ethnicity_group,
           cube_label(m.g, 4, kc.team_v) AS team,
           count(DISTINCT kc.child_id) AS k2
    FROM kc CROSS JOIN cube_masks(5) m
    WHERE kc.combos > 1
    GROUP BY m.g, reason_ceased, age_band, sex, ethnicity_group, team
)
-- The cube is rolled up from the finest cells (one aggregation over base) joined with the grouping masks,
-- instead of GROUP BY CUBE's aggregations over base per grouping set (macros.sql, "cubes from pre-aggregates").
-- Event counts add up. Children do not, so they are counted apart: a child whose events all fall in one
-- finest cell counts once in each cell above it (additive, summed like the events); only the few children
-- spread over several cells are counted with DISTINCT per cell. The two groups are disjoint, so their sum is
-- exactly count(DISTINCT child_id) of GROUP BY CUBE.
SELECT c.reason_ceased, c.age_band, c.sex, c.ethnicity_group, c.team,
       c.n AS ceased,
       CAST(c.k1 + coalesce(mk.k2, 0) AS BIGINT) AS children
FROM cells c LEFT JOIN multi mk USING (g, reason_ceased, age_band, sex, ethnicity_group, team)
ORDER BY ALL
