-- title: Children who started to be looked after in the year
-- definition: >
--   903 episodes with reason for new episode S (started to be looked after) and a start date in the census
--   year, leaving out V3/V4 short breaks, and the distinct children who started. Duplicate rows (same child and
--   start date) count once. Legal status and placement of the starting episode; age band at the start; team
--   allocated on the start date.
-- source: >
--   DfE, SSDA903 children looked after return 2024 to 2025 guide (RNE = S); DfE statistics "Children
--   looked after in England including adoptions", children who started to be looked after during the year.
-- unit: count of periods of care
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [legal_status, age_band, sex, ethnicity_group, team]
-- columns:
--   - {name: legal_status, kind: dimension, label: Legal status on starting}
--   - {name: age_band, kind: dimension, label: Age on starting}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: team, kind: dimension, label: Team}
--   - {name: started, kind: count, label: Started to be looked after}
--   - {name: children, kind: count, label: Children who started}
WITH s AS (
    SELECT child_id, decom, arg_min(ls, episode_id) AS ls
    FROM episode
    WHERE rne = 'S' AND NOT is_short_break(ls) AND in_census_year(decom, $census_year)
    GROUP BY child_id, decom
),
stt AS (
    SELECT s.child_id, s.decom, arg_max(a.team_id, alloc_rank(a.start_date, a.team_id)) AS team
    FROM s JOIN allocation a ON a.child_id = s.child_id AND open_at(a.start_date, a.end_date, s.decom)
    GROUP BY ALL
),
base AS (
    SELECT s.child_id,
           legal_status_group(s.ls) AS ls_v,
           child_age_band(c.dob, c.expected_dob, s.decom) AS age_band_v,
           sex_label(c.sex) AS sex_v,
           ethnicity_label(c.ethnicity_group) AS ethnicity_v,
           coalesce(stt.team, 'Unallocated') AS team_v
    FROM s
    LEFT JOIN child c USING (child_id)
    LEFT JOIN stt USING (child_id, decom)
)
SELECT CASE WHEN GROUPING(ls_v) = 1 THEN 'Total' ELSE ls_v END AS legal_status,
       CASE WHEN GROUPING(age_band_v) = 1 THEN 'Total' ELSE age_band_v END AS age_band,
       CASE WHEN GROUPING(sex_v) = 1 THEN 'Total' ELSE sex_v END AS sex,
       CASE WHEN GROUPING(ethnicity_v) = 1 THEN 'Total' ELSE ethnicity_v END AS ethnicity_group,
       CASE WHEN GROUPING(team_v) = 1 THEN 'Total' ELSE team_v END AS team,
       count(*) AS started,
       count(DISTINCT child_id) AS children
FROM base
GROUP BY CUBE (ls_v, age_band_v, sex_v, ethnicity_v, team_v)
ORDER BY ALL
