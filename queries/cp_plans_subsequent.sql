-- title: Second or subsequent child protection plans
-- definition: >
--   Children starting a child protection plan in the census year, and those among them who had an earlier
--   plan: a plan they started in the year returns NumberOfPreviousCPP above 0, or the warehouse holds a plan
--   of theirs that started before it (in any census year, including an earlier plan in the same year). Share
--   of children starting a plan who had an earlier one. Age band at the first plan start in the year; team
--   allocated on that date.
-- source: >
--   DfE, Children in need census 2024 to 2025 guide (NumberOfPreviousCPP N00106); DfE statistics
--   "Children in need", CP plans starting that were second or subsequent plans. The DfE counts plans; this
--   measure counts children, as domain.md asks.
-- unit: count of children
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [age_band, sex, ethnicity_group, disability, team]
-- columns:
--   - {name: age_band, kind: dimension, label: Age at plan start}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: disability, kind: dimension, label: Disability}
--   - {name: team, kind: dimension, label: Team}
--   - {name: children, kind: count, label: Children starting a plan}
--   - {name: subsequent, kind: count, label: Children with an earlier plan}
--   - {name: pct_subsequent, kind: percentage, numerator: subsequent, denominator: children, label: "% second or subsequent"}
WITH y AS (
    SELECT child_id, start_date, previous_cpp FROM cp_plan WHERE in_census_year(start_date, $census_year)
),
earliest AS (
    SELECT child_id, min(start_date) AS first_ever FROM cp_plan GROUP BY child_id
),
per_child AS (
    SELECT y.child_id,
           min(y.start_date) AS first_in_year,
           bool_or(coalesce(y.previous_cpp, 0) > 0 OR e.first_ever < y.start_date) AS had_earlier
    FROM y JOIN earliest e USING (child_id)
    GROUP BY y.child_id
),
base AS (
    SELECT p.child_id, p.had_earlier,
           cd.age_band AS age_band_v,
           cd.sex AS sex_v,
           cd.ethnicity_group AS ethnicity_v,
           cd.disability AS disability_v,
           cd.team AS team_v
    FROM per_child p
    -- the child's age band, labels and team on the event date, worked out at build time
    -- (derived.sql, `child_day`)
    LEFT JOIN child_day cd
      ON cd.child_id = p.child_id AND cd.d = p.first_in_year AND cd.census_year = $census_year
),
fine AS (
    SELECT age_band_v, sex_v, ethnicity_v, disability_v, team_v,
           count(*) AS n,
           count(*) FILTER (WHERE had_earlier) AS f0
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
       cube_label(m.g, 3, f.disability_v) AS disability,
       cube_label(m.g, 4, f.team_v) AS team,
       CAST(coalesce(sum(f.n), 0) AS BIGINT) AS children,
       CAST(coalesce(sum(f.f0), 0) AS BIGINT) AS subsequent,
       round(100.0 * CAST(coalesce(sum(f.f0), 0) AS BIGINT) / CAST(coalesce(sum(f.n), 0) AS BIGINT), 1) AS pct_subsequent
FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
GROUP BY m.g, age_band, sex, ethnicity_group, disability, team
ORDER BY ALL
