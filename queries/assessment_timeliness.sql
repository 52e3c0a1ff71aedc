-- title: Assessments completed within 45 working days
-- definition: >
--   Assessments authorised in the census year, the number whose start-to-authorisation span is 45 working days
--   or fewer, and the share. Working days leave out weekends and England and Wales bank holidays and count the
--   start day as day 1 (so a same-day assessment on a working day takes 1 day). Also the DfE duration bands:
--   Same day (authorised on the start date), 1-10, 11-20, 21-30, 31-40, 41-45, 46-50, 51-60, 61+ working days.
--   An assessment with no start date, or authorised before it started, is in band 'Not known' and is not
--   within 45 days. Duplicate rows (same child, start and authorisation date) count once.
-- source: >
--   DfE, Children in need census 2024 to 2025 guide (AssessmentActualStartDate N00159,
--   AssessmentAuthorisationDate N00160); Working together to safeguard children 2023 (45 working days);
--   DfE statistics "Children in need", assessments by duration.
-- unit: count of assessments
-- shape: aggregate
-- england: {year: 2025, pct_within_45: 86.0, median_working_days: 33}
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [duration_band, age_band, sex, disability, team]
-- columns:
--   - {name: duration_band, kind: dimension, label: Working days to authorisation}
--   - {name: age_band, kind: dimension, label: Age at authorisation}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: disability, kind: dimension, label: Disability}
--   - {name: team, kind: dimension, label: Team}
--   - {name: assessments, kind: count, label: Assessments authorised}
--   - {name: within_45, kind: count, label: Within 45 working days}
--   - {name: pct_within_45, kind: percentage, numerator: within_45, denominator: assessments, label: "% within 45 working days"}
--   - {name: median_working_days, kind: value, label: Median working days}
WITH base AS (
    -- each distinct assessment with its working days, band and the child's labels and team on the authorisation
    -- date, worked out at build time (derived.sql, `assessment_span`)
    SELECT wd, duration_band AS band_v, age_band AS age_band_v, sex AS sex_v, disability AS disability_v,
           team AS team_v
    FROM assessment_span
    WHERE census_year = $census_year
),
-- The cube is rolled up from the finest cells (one aggregation over base, one row per working-day count)
-- joined with the grouping masks, instead of GROUP BY CUBE's aggregation (and median sort) over every
-- assessment per grouping set (macros.sql, "cubes from pre-aggregates"). Counts add up; the median is read
-- off each cell's working-day distribution: the middle value, or the mean of the two middle values (as
-- median() interpolates); NULL working days count in assessments but not in the median.
fine AS (
    SELECT band_v, age_band_v, sex_v, disability_v, team_v, wd, count(*) AS n
    FROM base
    GROUP BY ALL
),
-- Each dimension's values (NULL included) numbered from 1; 0 stands for the margin ('Total'). The roll-up, the
-- running sums and the median are then worked out on six integers per cell instead of six strings, and the
-- labels are put back on the finished cells only.
k0 AS (SELECT v, CAST(row_number() OVER (ORDER BY v) AS INTEGER) AS k
       FROM (SELECT DISTINCT band_v AS v FROM fine)),
k1 AS (SELECT v, CAST(row_number() OVER (ORDER BY v) AS INTEGER) AS k
       FROM (SELECT DISTINCT age_band_v AS v FROM fine)),
k2 AS (SELECT v, CAST(row_number() OVER (ORDER BY v) AS INTEGER) AS k
       FROM (SELECT DISTINCT sex_v AS v FROM fine)),
k3 AS (SELECT v, CAST(row_number() OVER (ORDER BY v) AS INTEGER) AS k
       FROM (SELECT DISTINCT disability_v AS v FROM fine)),
k4 AS (SELECT v, CAST(row_number() OVER (ORDER BY v) AS INTEGER) AS k
       FROM (SELECT DISTINCT team_v AS v FROM fine)),
coded AS (
    SELECT k0.k AS c0, k1.k AS c1, k2.k AS c2, k3.k AS c3, k4.k AS c4, f.wd, f.n
    FROM fine f
    JOIN k0 ON k0.v IS NOT DISTINCT FROM f.band_v
    JOIN k1 ON k1.v IS NOT DISTINCT FROM f.age_band_v
    JOIN k2 ON k2.v IS NOT DISTINCT FROM f.sex_v
    JOIN k3 ON k3.v IS NOT DISTINCT FROM f.disability_v
    JOIN k4 ON k4.v IS NOT DISTINCT FROM f.team_v
),
rolled AS (
    SELECT m.g,
           CASE WHEN cube_keeps(m.g, 0) = 1 THEN f.c0 ELSE 0 END AS c0,
           CASE WHEN cube_keeps(m.g, 1) = 1 THEN f.c1 ELSE 0 END AS c1,
           CASE WHEN cube_keeps(m.g, 2) = 1 THEN f.c2 ELSE 0 END AS c2,
           CASE WHEN cube_keeps(m.g, 3) = 1 THEN f.c3 ELSE 0 END AS c3,
           CASE WHEN cube_keeps(m.g, 4) = 1 THEN f.c4 ELSE 0 END AS c4,
           f.wd,
           CAST(coalesce(sum(f.n), 0) AS BIGINT) AS n
    FROM cube_masks(5) m LEFT JOIN coded f ON TRUE
    WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
    GROUP BY ALL
),
-- Each cell's sorted working days as one run: the running count over all cells in (cell, wd) order (one sort,
-- no per-cell partitions); a cell's run starts where the cells before it end (its least running - n).
dist AS (
    SELECT r.*,
           sum(n) OVER (ORDER BY g, c0, c1, c2, c3, c4, wd ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS upto
    FROM rolled r
    WHERE wd IS NOT NULL
),
run AS (
    SELECT g, c0, c1, c2, c3, c4, min(upto - n) AS before, sum(n) AS known
    FROM dist
    GROUP BY ALL
),
med AS (
    -- 0-based positions (known - 1) // 2 and known // 2 in the sorted working days of the cell, counted from
    -- where its run starts
    SELECT g, c0, c1, c2, c3, c4,
           CAST(max(d.wd) FILTER (WHERE d.upto - d.n <= r.before + (r.known - 1) // 2
                                    AND r.before + (r.known - 1) // 2 < d.upto) AS DOUBLE) AS lo,
           CAST(max(d.wd) FILTER (WHERE d.upto - d.n <= r.before + r.known // 2
                                    AND r.before + r.known // 2 < d.upto) AS DOUBLE) AS hi
    FROM dist d JOIN run r USING (g, c0, c1, c2, c3, c4)
    GROUP BY ALL
),
cells AS (
    SELECT g, c0, c1, c2, c3, c4,
           CAST(sum(n) AS BIGINT) AS assessments,
           CAST(coalesce(sum(n) FILTER (WHERE wd <= 45), 0) AS BIGINT) AS within_45
    FROM rolled
    GROUP BY ALL
)
SELECT CASE WHEN c.c0 = 0 THEN 'Total' ELSE k0.v END AS duration_band,
       CASE WHEN c.c1 = 0 THEN 'Total' ELSE k1.v END AS age_band,
       CASE WHEN c.c2 = 0 THEN 'Total' ELSE k2.v END AS sex,
       CASE WHEN c.c3 = 0 THEN 'Total' ELSE k3.v END AS disability,
       CASE WHEN c.c4 = 0 THEN 'Total' ELSE k4.v END AS team,
       c.assessments,
       c.within_45,
       round(100.0 * c.within_45 / c.assessments, 1) AS pct_within_45,
       m.lo + (m.hi - m.lo) * 0.5 AS median_working_days
FROM cells c
LEFT JOIN med m USING (g, c0, c1, c2, c3, c4)
LEFT JOIN k0 ON k0.k = c.c0
LEFT JOIN k1 ON k1.k = c.c1
LEFT JOIN k2 ON k2.k = c.c2
LEFT JOIN k3 ON k3.k = c.c3
LEFT JOIN k4 ON k4.k = c.c4
ORDER BY ALL
