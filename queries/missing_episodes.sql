-- title: Missing and away from placement episodes
-- definition: >
--   Children with a missing (M) or away from placement without authorisation (A) episode starting in the
--   census year, and the number of such episodes. Duplicate rows (same child, type and start date) are one
--   episode. By type (the Total row counts each child once even if they had both types); age band at 31 March;
--   team allocated at 31 March.
-- source: >
--   DfE, SSDA903 2024 to 2025 guide (Missing: MISSING, MIS_START, MIS_END); DfE statistics "Children
--   looked after in England including adoptions", children who went missing or were away from placement.
-- unit: count of children
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [missing_type, age_band, sex, ethnicity_group, team]
-- columns:
--   - {name: missing_type, kind: dimension, label: Missing or away}
--   - {name: age_band, kind: dimension, label: Age at 31 March}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: team, kind: dimension, label: Team}
--   - {name: children, kind: count, label: Children}
--   - {name: episodes, kind: count, label: Episodes}
WITH m AS (
    SELECT DISTINCT child_id, missing_type, start_date
    FROM missing_episode
    WHERE in_census_year(start_date, $census_year)
),
-- team at 31 March (the team_on rule), worked out only for the children in scope: cheaper than team_on()
tm AS (
    SELECT a.child_id, arg_max(a.team_id, alloc_rank(a.start_date, a.team_id)) AS team
    FROM allocation a SEMI JOIN m USING (child_id)
    WHERE open_at(a.start_date, a.end_date, census_end($census_year))
    GROUP BY a.child_id
),
base AS (
    SELECT m.child_id,
           CASE m.missing_type WHEN 'M' THEN 'Missing' WHEN 'A' THEN 'Away from placement' ELSE 'Not known' END AS type_v,
           child_age_band(c.dob, c.expected_dob, census_end($census_year)) AS age_band_v,
           sex_label(c.sex) AS sex_v,
           ethnicity_label(c.ethnicity_group) AS ethnicity_v,
           coalesce(t.team, 'Unallocated') AS team_v
    FROM m
    LEFT JOIN child c USING (child_id)
    LEFT JOIN tm t USING (child_id)
)
SELECT CASE WHEN GROUPING(type_v) = 1 THEN 'Total' ELSE type_v END AS missing_type,
       CASE WHEN GROUPING(age_band_v) = 1 THEN 'Total' ELSE age_band_v END AS age_band,
       CASE WHEN GROUPING(sex_v) = 1 THEN 'Total' ELSE sex_v END AS sex,
       CASE WHEN GROUPING(ethnicity_v) = 1 THEN 'Total' ELSE ethnicity_v END AS ethnicity_group,
       CASE WHEN GROUPING(team_v) = 1 THEN 'Total' ELSE team_v END AS team,
       count(DISTINCT child_id) AS children,
       count(*) AS episodes
FROM base
GROUP BY CUBE (type_v, age_band_v, sex_v, ethnicity_v, team_v)
ORDER BY ALL
