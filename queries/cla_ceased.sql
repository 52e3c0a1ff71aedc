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
    WHERE NOT period_short_breaks_only
),
ended AS (
    SELECT * FROM p WHERE in_census_year(period_end, $census_year)
),
et AS (
    SELECT e.child_id, e.period_no, arg_max(a.team_id, alloc_rank(a.start_date, a.team_id)) AS team
    FROM ended e JOIN allocation a ON a.child_id = e.child_id AND open_at(a.start_date, a.end_date, e.period_end)
    GROUP BY ALL
),
base AS (
    SELECT e.child_id,
           reason_ceased_group(e.end_rec) AS rec_v,
           child_age_band(c.dob, c.expected_dob, e.period_end) AS age_band_v,
           sex_label(c.sex) AS sex_v,
           ethnicity_label(c.ethnicity_group) AS ethnicity_v,
           coalesce(et.team, 'Unallocated') AS team_v
    FROM ended e
    LEFT JOIN child c USING (child_id)
    LEFT JOIN et USING (child_id, period_no)
)
SELECT CASE WHEN GROUPING(rec_v) = 1 THEN 'Total' ELSE rec_v END AS reason_ceased,
       CASE WHEN GROUPING(age_band_v) = 1 THEN 'Total' ELSE age_band_v END AS age_band,
       CASE WHEN GROUPING(sex_v) = 1 THEN 'Total' ELSE sex_v END AS sex,
       CASE WHEN GROUPING(ethnicity_v) = 1 THEN 'Total' ELSE ethnicity_v END AS ethnicity_group,
       CASE WHEN GROUPING(team_v) = 1 THEN 'Total' ELSE team_v END AS team,
       count(*) AS ceased,
       count(DISTINCT child_id) AS children
FROM base
GROUP BY CUBE (rec_v, age_band_v, sex_v, ethnicity_v, team_v)
ORDER BY ALL
