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
WITH a AS (
    SELECT DISTINCT child_id, start_date, authorisation_date
    FROM assessment
    WHERE in_census_year(authorisation_date, $census_year)
),
w AS (
    -- working days once per distinct pair of dates (a few thousand), not once per row: the calendar look-up
    -- is the costly part and depends on the two dates alone
    SELECT a.*, d.wd
    FROM a LEFT JOIN (
        SELECT s, e, working_days(s, e) AS wd
        FROM (SELECT DISTINCT start_date AS s, authorisation_date AS e FROM a)
    ) d ON d.s IS NOT DISTINCT FROM a.start_date AND d.e IS NOT DISTINCT FROM a.authorisation_date
),
base AS (
    SELECT w.child_id, w.wd,
           assessment_band(w.start_date, w.authorisation_date, w.wd) AS band_v,
           cd.age_band AS age_band_v,
           cd.sex AS sex_v,
           cd.disability AS disability_v,
           cd.team AS team_v
    FROM w
    -- the child's age band, labels and team on the event date, worked out at build time
    -- (derived.sql, `child_day`)
    LEFT JOIN child_day cd
      ON cd.child_id = w.child_id AND cd.d = w.authorisation_date AND cd.census_year = $census_year
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
rolled AS (
    SELECT m.g,
           cube_label(m.g, 0, f.band_v) AS duration_band,
           cube_label(m.g, 1, f.age_band_v) AS age_band,
           cube_label(m.g, 2, f.sex_v) AS sex,
           cube_label(m.g, 3, f.disability_v) AS disability,
           cube_label(m.g, 4, f.team_v) AS team,
           f.wd,
           CAST(coalesce(sum(f.n), 0) AS BIGINT) AS n
    FROM cube_masks(5) m LEFT JOIN fine f ON TRUE
    WHERE m.g = 0 OR f.n IS NOT NULL  -- nothing in scope: the grand total alone, zero (as CUBE gives)
    GROUP BY m.g, duration_band, age_band, sex, disability, team, f.wd
),
dist AS (
    SELECT r.*,
           sum(n) OVER (PARTITION BY g, duration_band, age_band, sex, disability, team ORDER BY wd
                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS upto,
           sum(n) OVER (PARTITION BY g, duration_band, age_band, sex, disability, team) AS known
    FROM rolled r
    WHERE wd IS NOT NULL
),
med AS (
    -- 0-based positions (known - 1) // 2 and known // 2 in the sorted working days of the cell
    SELECT g, duration_band, age_band, sex, disability, team,
           CAST(max(wd) FILTER (WHERE upto - n <= (known - 1) // 2 AND (known - 1) // 2 < upto) AS DOUBLE) AS lo,
           CAST(max(wd) FILTER (WHERE upto - n <= known // 2 AND known // 2 < upto) AS DOUBLE) AS hi
    FROM dist
    GROUP BY ALL
),
cells AS (
    SELECT g, duration_band, age_band, sex, disability, team,
           CAST(sum(n) AS BIGINT) AS assessments,
           CAST(coalesce(sum(n) FILTER (WHERE wd <= 45), 0) AS BIGINT) AS within_45
    FROM rolled
    GROUP BY ALL
)
SELECT c.duration_band, c.age_band, c.sex, c.disability, c.team,
       c.assessments,
       c.within_45,
       round(100.0 * c.within_45 / c.assessments, 1) AS pct_within_45,
       m.lo + (m.hi - m.lo) * 0.5 AS median_working_days
FROM cells c LEFT JOIN med m USING (g, duration_band, age_band, sex, disability, team)
ORDER BY ALL
