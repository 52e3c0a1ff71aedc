-- title: Child protection plans ending in the year, by duration
-- definition: >
--   Child protection plans with an end date in the census year, by how long they lasted: 3 months or less,
--   over 3 to 6 months, over 6 months to 1 year, over 1 year to under 2 years, 2 years or more (calendar
--   months from the start date; a plan ending exactly 2 years after it started is '2 years or more'), and the
--   share lasting 2 years or more. Duplicate rows (same child, start and end date) are one plan.
--   Age band at the plan end; team allocated on the end date.
-- source: >
--   DfE, Children in need census 2024 to 2025 guide (CPPstartDate N00105, CPPendDate N00115); DfE
--   statistics "Children in need", CP plans ending during the year by length of time on the plan.
-- unit: count of plans
-- shape: aggregate
-- england: {year: 2025, pct_2y_plus: 4.4}
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [duration_band, latest_category, age_band, sex, team]
-- columns:
--   - {name: duration_band, kind: dimension, label: Length of plan}
--   - {name: latest_category, kind: dimension, label: Latest category of abuse}
--   - {name: age_band, kind: dimension, label: Age at end}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: team, kind: dimension, label: Team}
--   - {name: plans, kind: count, label: Plans ending}
--   - {name: plans_2y_plus, kind: count, label: Plans lasting 2 years or more}
--   - {name: pct_2y_plus, kind: percentage, numerator: plans_2y_plus, denominator: plans, label: "% lasting 2 years or more"}
--   - {name: children, kind: count, label: Children whose plan ended}
WITH p AS (
    SELECT child_id, start_date, end_date, arg_min(latest_category, cp_plan_id) AS cat
    FROM cp_plan
    WHERE in_census_year(end_date, $census_year)
    GROUP BY child_id, start_date, end_date
),
base AS (
    SELECT p.child_id,
           cpp_duration_band(p.start_date, p.end_date) AS band_v,
           abuse_category_label(p.cat) AS cat_v,
           cd.age_band AS age_band_v,
           cd.sex AS sex_v,
           cd.team AS team_v
    FROM p
    -- the child's age band, labels and team on the event date, worked out at build time
    -- (derived.sql, `child_day`)
    LEFT JOIN child_day cd
      ON cd.child_id = p.child_id AND cd.d = p.end_date AND cd.census_year = $census_year
),
kc AS (
    SELECT *, count(*) OVER (PARTITION BY child_id) AS combos
    FROM (SELECT DISTINCT child_id, band_v, cat_v, age_band_v, sex_v, team_v FROM base)
),
fine AS (
    SELECT band_v, cat_v, age_band_v, sex_v, team_v,
           count(*) AS n,
           count(*) FILTER (WHERE band_v = '2 years or more') AS f0, 0 AS k1
    FROM base
    GROUP BY ALL
    UNION ALL
    SELECT band_v, cat_v, age_band_v, sex_v, team_v, 0, 0, count(*)
    FROM kc WHERE combos = 1
    GROUP BY ALL
),
cells AS (
    SELECT m.g,
           cube_label(m.g, 0, f.band_v) AS duration_band,
           cube_label(m.g, 1, f.cat_v) AS latest_category,
           cube_label(m.g, 2, f.age_band_v) AS age_band,
           cube_label(m.g, 3, f.sex_v) AS sex,
           cube_label(m.g, 4, f.team_v) AS team,
           CAST(coalesce(sum(f.n), 0) AS BIGINT) AS n,
           CAST(coalesce(sum(f.f0), 0) AS BIGINT) AS f0,
           CAST(coalesce(sum(f.k1), 0) AS BIGINT) AS k1
    FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
    WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
    GROUP BY m.g, duration_band, latest_category, age_band, sex, team
),
multi AS (
    SELECT m.g,
           cube_label(m.g, 0, kc.band_v) AS duration_band,
           cube_label(m.g, 1, kc.cat_v) AS latest_category,
           cube_label(m.g, 2, kc.age_band_v) AS age_band,
           cube_label(m.g, 3, kc.sex_v) AS sex,
           cube_label(m.g, 4, kc.team_v) AS team,
           count(DISTINCT kc.child_id) AS k2
    FROM kc CROSS JOIN cube_masks(5) m
    WHERE kc.combos > 1
    GROUP BY m.g, duration_band, latest_category, age_band, sex, team
)
-- The cube is rolled up from the finest cells (one aggregation over base) joined with the grouping masks,
-- instead of GROUP BY CUBE's aggregations over base per grouping set (macros.sql, "cubes from pre-aggregates").
-- Event counts add up. Children do not, so they are counted apart: a child whose events all fall in one
-- finest cell counts once in each cell above it (additive, summed like the events); only the few children
-- spread over several cells are counted with DISTINCT per cell. The two groups are disjoint, so their sum is
-- exactly count(DISTINCT child_id) of GROUP BY CUBE.
SELECT c.duration_band, c.latest_category, c.age_band, c.sex, c.team,
       c.n AS plans,
       c.f0 AS plans_2y_plus,
       round(100.0 * c.f0 / c.n, 1) AS pct_2y_plus,
       CAST(c.k1 + coalesce(mk.k2, 0) AS BIGINT) AS children
FROM cells c LEFT JOIN multi mk USING (g, duration_band, latest_category, age_band, sex, team)
ORDER BY ALL
