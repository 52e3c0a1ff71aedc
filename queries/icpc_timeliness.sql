-- title: Initial child protection conferences within 15 working days
-- definition: >
--   Initial child protection conferences (ICPCs) held in the census year, the number held within 15 working
--   days of the start of the section 47 enquiry (the strategy discussion), and the share. Working days leave
--   out weekends and England and Wales bank holidays and count the S47 start day as day 1. Section 47
--   enquiries marked ICPCnotRequired leave the denominator. An ICPC dated before its S47 start is counted
--   but never as timely. Duplicate rows (same child, S47 start and ICPC date) count once.
-- source: >
--   DfE, Children in need census 2024 to 2025 guide (S47ActualStartDate N00148, DateOfInitialCPC N00110,
--   ICPCnotRequired N00111); Working together to safeguard children 2023 (ICPC within 15 working days).
-- unit: count of conferences
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [age_band, sex, ethnicity_group, disability, team]
-- columns:
--   - {name: age_band, kind: dimension, label: Age at conference}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: disability, kind: dimension, label: Disability}
--   - {name: team, kind: dimension, label: Team}
--   - {name: icpcs, kind: count, label: ICPCs held}
--   - {name: within_15, kind: count, label: Within 15 working days}
--   - {name: pct_within_15, kind: percentage, numerator: within_15, denominator: icpcs, label: "% within 15 working days"}
WITH s AS (
    SELECT DISTINCT child_id, start_date, icpc_date
    FROM section47
    WHERE NOT icpc_not_required AND in_census_year(icpc_date, $census_year)
),
w AS (
    -- working days once per distinct pair of dates (a few thousand), not once per row: the calendar look-up
    -- is the costly part and depends on the two dates alone
    SELECT s.*, d.wd
    FROM s LEFT JOIN (
        SELECT s, e, working_days(s, e) AS wd
        FROM (SELECT DISTINCT start_date AS s, icpc_date AS e FROM s)
    ) d ON d.s IS NOT DISTINCT FROM s.start_date AND d.e IS NOT DISTINCT FROM s.icpc_date
),
base AS (
    SELECT w.child_id, w.wd,
           cd.age_band AS age_band_v,
           cd.sex AS sex_v,
           cd.ethnicity_group AS ethnicity_v,
           cd.disability AS disability_v,
           cd.team AS team_v
    FROM w
    -- the child's age band, labels and team on the event date, worked out at build time
    -- (derived.sql, `child_day`)
    LEFT JOIN child_day cd
      ON cd.child_id = w.child_id AND cd.d = w.icpc_date AND cd.census_year = $census_year
),
fine AS (
    SELECT age_band_v, sex_v, ethnicity_v, disability_v, team_v,
           count(*) AS n,
           count(*) FILTER (WHERE wd <= 15) AS f0
    FROM base
    GROUP BY ALL
)
-- The cube is rolled up from the finest cells (one aggregation over base) joined with the grouping masks,
-- instead of GROUP BY CUBE's one aggregation over base per grouping set; counts add up, so every cell and
-- margin is the same (macros.sql, "cubes from pre-aggregates").
SELECT cube_label(m.g, 0, f.age_band_v) AS age_band,
       cube_label(m.g, 1, f.sex_v) AS sex,
       cube_label(m.g, 2, f.ethnicity_v) AS ethnicity_group,
       cube_label(m.g, 3, f.disability_v) AS disability,
       cube_label(m.g, 4, f.team_v) AS team,
       CAST(coalesce(sum(f.n), 0) AS BIGINT) AS icpcs,
       CAST(coalesce(sum(f.f0), 0) AS BIGINT) AS within_15,
       round(100.0 * CAST(coalesce(sum(f.f0), 0) AS BIGINT) / CAST(coalesce(sum(f.n), 0) AS BIGINT), 1) AS pct_within_15
FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
GROUP BY m.g, age_band, sex, ethnicity_group, disability, team
ORDER BY ALL
