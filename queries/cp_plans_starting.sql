-- title: Child protection plans starting in the year
-- definition: >
--   Child protection plans with a start date in the census year, by initial category of abuse, and the
--   distinct children starting them. Duplicate rows (same child and start date) are one plan (the lowest plan
--   id gives the category). Age band at the plan start; team allocated on the start date.
-- source: >
--   DfE, Children in need census 2024 to 2025 guide (CPPstartDate N00105, InitialCategoryOfAbuse
--   N00113); DfE statistics "Children in need", CP plans starting during the year.
-- unit: count of plans
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [initial_category, age_band, sex, ethnicity_group, team]
-- columns:
--   - {name: initial_category, kind: dimension, label: Initial category of abuse}
--   - {name: age_band, kind: dimension, label: Age at start}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: team, kind: dimension, label: Team}
--   - {name: plans, kind: count, label: Plans starting}
--   - {name: children, kind: count, label: Children starting a plan}
WITH p AS (
    SELECT child_id, start_date, arg_min(initial_category, cp_plan_id) AS cat
    FROM cp_plan
    WHERE in_census_year(start_date, $census_year)
    GROUP BY child_id, start_date
),
base AS (
    SELECT p.child_id,
           abuse_category_label(p.cat) AS cat_v,
           cd.age_band AS age_band_v,
           cd.sex AS sex_v,
           cd.ethnicity_group AS ethnicity_v,
           cd.team AS team_v
    FROM p
    -- the child's age band, labels and team on the event date, worked out at build time
    -- (derived.sql, `child_day`)
    LEFT JOIN child_day cd
      ON cd.child_id = p.child_id AND cd.d = p.start_date AND cd.census_year = $census_year
),
kc AS (
    SELECT *, count(*) OVER (PARTITION BY child_id) AS combos
    FROM (SELECT DISTINCT child_id, cat_v, age_band_v, sex_v, ethnicity_v, team_v FROM base)
),
fine AS (
    SELECT cat_v, age_band_v, sex_v, ethnicity_v, team_v,
           count(*) AS n, 0 AS k1
    FROM base
    GROUP BY ALL
    UNION ALL
    SELECT cat_v, age_band_v, sex_v, ethnicity_v, team_v, 0, count(*)
    FROM kc WHERE combos = 1
    GROUP BY ALL
),
cells AS (
    SELECT m.g,
           cube_label(m.g, 0, f.cat_v) AS initial_category,
           cube_label(m.g, 1, f.age_band_v) AS age_band,
           cube_label(m.g, 2, f.sex_v) AS sex,
           cube_label(m.g, 3, f.ethnicity_v) AS ethnicity_group,
           cube_label(m.g, 4, f.team_v) AS team,
           CAST(coalesce(sum(f.n), 0) AS BIGINT) AS n,
           CAST(coalesce(sum(f.k1), 0) AS BIGINT) AS k1
    FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
    WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
    GROUP BY m.g, initial_category, age_band, sex, ethnicity_group, team
),
multi AS (
    SELECT m.g,
           cube_label(m.g, 0, kc.cat_v) AS initial_category,
           cube_label(m.g, 1, kc.age_band_v) AS age_band,
           cube_label(m.g, 2, kc.sex_v) AS sex,
           cube_label(m.g, 3, kc.ethnicity_v) AS ethnicity_group,
           cube_label(m.g, 4, kc.team_v) AS team,
           count(DISTINCT kc.child_id) AS k2
    FROM kc CROSS JOIN cube_masks(5) m
    WHERE kc.combos > 1
    GROUP BY m.g, initial_category, age_band, sex, ethnicity_group, team
)
-- The cube is rolled up from the finest cells (one aggregation over base) joined with the grouping masks,
-- instead of GROUP BY CUBE's aggregations over base per grouping set (macros.sql, "cubes from pre-aggregates").
-- Event counts add up. Children do not, so they are counted apart: a child whose events all fall in one
-- finest cell counts once in each cell above it (additive, summed like the events); only the few children
-- spread over several cells are counted with DISTINCT per cell. The two groups are disjoint, so their sum is
-- exactly count(DISTINCT child_id) of GROUP BY CUBE.
SELECT c.initial_category, c.age_band, c.sex, c.ethnicity_group, c.team,
       c.n AS plans,
       CAST(c.k1 + coalesce(mk.k2, 0) AS BIGINT) AS children
FROM cells c LEFT JOIN multi mk USING (g, initial_category, age_band, sex, ethnicity_group, team)
ORDER BY ALL
