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
pt AS (
    SELECT p.child_id, p.start_date, arg_max(a.team_id, alloc_rank(a.start_date, a.team_id)) AS team
    FROM p JOIN allocation a ON a.child_id = p.child_id AND open_at(a.start_date, a.end_date, p.start_date)
    GROUP BY ALL
),
base AS (
    SELECT p.child_id,
           abuse_category_label(p.cat) AS cat_v,
           child_age_band(c.dob, c.expected_dob, p.start_date) AS age_band_v,
           sex_label(c.sex) AS sex_v,
           ethnicity_label(c.ethnicity_group) AS ethnicity_v,
           coalesce(pt.team, 'Unallocated') AS team_v
    FROM p
    LEFT JOIN child c USING (child_id)
    LEFT JOIN pt USING (child_id, start_date)
)
SELECT CASE WHEN GROUPING(cat_v) = 1 THEN 'Total' ELSE cat_v END AS initial_category,
       CASE WHEN GROUPING(age_band_v) = 1 THEN 'Total' ELSE age_band_v END AS age_band,
       CASE WHEN GROUPING(sex_v) = 1 THEN 'Total' ELSE sex_v END AS sex,
       CASE WHEN GROUPING(ethnicity_v) = 1 THEN 'Total' ELSE ethnicity_v END AS ethnicity_group,
       CASE WHEN GROUPING(team_v) = 1 THEN 'Total' ELSE team_v END AS team,
       count(*) AS plans,
       count(DISTINCT child_id) AS children
FROM base
GROUP BY CUBE (cat_v, age_band_v, sex_v, ethnicity_v, team_v)
ORDER BY ALL
