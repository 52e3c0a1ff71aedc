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
pt AS (
    SELECT p.child_id, p.start_date, p.end_date, arg_max(a.team_id, alloc_rank(a.start_date, a.team_id)) AS team
    FROM p JOIN allocation a ON a.child_id = p.child_id AND open_at(a.start_date, a.end_date, p.end_date)
    GROUP BY ALL
),
base AS (
    SELECT p.child_id,
           cpp_duration_band(p.start_date, p.end_date) AS band_v,
           abuse_category_label(p.cat) AS cat_v,
           child_age_band(c.dob, c.expected_dob, p.end_date) AS age_band_v,
           sex_label(c.sex) AS sex_v,
           coalesce(pt.team, 'Unallocated') AS team_v
    FROM p
    LEFT JOIN child c USING (child_id)
    LEFT JOIN pt USING (child_id, start_date, end_date)
)
SELECT CASE WHEN GROUPING(band_v) = 1 THEN 'Total' ELSE band_v END AS duration_band,
       CASE WHEN GROUPING(cat_v) = 1 THEN 'Total' ELSE cat_v END AS latest_category,
       CASE WHEN GROUPING(age_band_v) = 1 THEN 'Total' ELSE age_band_v END AS age_band,
       CASE WHEN GROUPING(sex_v) = 1 THEN 'Total' ELSE sex_v END AS sex,
       CASE WHEN GROUPING(team_v) = 1 THEN 'Total' ELSE team_v END AS team,
       count(*) AS plans,
       count(*) FILTER (WHERE band_v = '2 years or more') AS plans_2y_plus,
       round(100.0 * count(*) FILTER (WHERE band_v = '2 years or more') / count(*), 1) AS pct_2y_plus,
       count(DISTINCT child_id) AS children
FROM base
GROUP BY CUBE (band_v, cat_v, age_band_v, sex_v, team_v)
ORDER BY ALL
