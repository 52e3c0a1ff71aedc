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
    SELECT a.*, working_days(start_date, authorisation_date) AS wd FROM a
),
at_team AS (
    SELECT w.child_id, w.start_date, w.authorisation_date,
           arg_max(al.team_id, alloc_rank(al.start_date, al.team_id)) AS team
    FROM w JOIN allocation al
      ON al.child_id = w.child_id AND open_at(al.start_date, al.end_date, w.authorisation_date)
    GROUP BY ALL
),
base AS (
    SELECT w.child_id, w.wd,
           assessment_band(w.start_date, w.authorisation_date, w.wd) AS band_v,
           child_age_band(c.dob, c.expected_dob, w.authorisation_date) AS age_band_v,
           sex_label(c.sex) AS sex_v,
           disability_label(c.is_disabled) AS disability_v,
           coalesce(atm.team, 'Unallocated') AS team_v
    FROM w
    LEFT JOIN child c USING (child_id)
    LEFT JOIN at_team atm ON atm.child_id = w.child_id AND atm.start_date IS NOT DISTINCT FROM w.start_date
                AND atm.authorisation_date = w.authorisation_date
)
SELECT CASE WHEN GROUPING(band_v) = 1 THEN 'Total' ELSE band_v END AS duration_band,
       CASE WHEN GROUPING(age_band_v) = 1 THEN 'Total' ELSE age_band_v END AS age_band,
       CASE WHEN GROUPING(sex_v) = 1 THEN 'Total' ELSE sex_v END AS sex,
       CASE WHEN GROUPING(disability_v) = 1 THEN 'Total' ELSE disability_v END AS disability,
       CASE WHEN GROUPING(team_v) = 1 THEN 'Total' ELSE team_v END AS team,
       count(*) AS assessments,
       count(*) FILTER (WHERE wd <= 45) AS within_45,
       round(100.0 * count(*) FILTER (WHERE wd <= 45) / count(*), 1) AS pct_within_45,
       median(wd) AS median_working_days
FROM base
GROUP BY CUBE (band_v, age_band_v, sex_v, disability_v, team_v)
ORDER BY ALL
