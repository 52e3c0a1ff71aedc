-- title: Referrals in the year
-- definition: >
--   Referrals (CIN episodes) with a referral date in the census year (1 April to 31 March), including those
--   that led to no further action (NFA), with the NFA count and share. A child referred twice on the same day
--   is one referral (duplicate rows for the same child and referral date count once; it is NFA only if every
--   copy is). Age band at the referral date; team allocated on the referral date.
-- source: >
--   DfE, Children in need census 2024 to 2025 guide (CINreferralDate N00100, ReferralNFA N00112);
--   DfE statistics "Children in need", referrals and referrals resulting in no further action.
-- unit: count of referrals
-- shape: aggregate
-- parameters:
--   census_year: {type: integer, default: 2025, choices: census_years, description: year ending 31 March}
-- dimensions: [age_band, sex, ethnicity_group, disability, team]
-- columns:
--   - {name: age_band, kind: dimension, label: Age at referral}
--   - {name: sex, kind: dimension, label: Sex}
--   - {name: ethnicity_group, kind: dimension, label: Ethnicity}
--   - {name: disability, kind: dimension, label: Disability}
--   - {name: team, kind: dimension, label: Team}
--   - {name: referrals, kind: count, label: Referrals}
--   - {name: nfa_referrals, kind: count, label: Referrals with no further action}
--   - {name: pct_nfa, kind: percentage, numerator: nfa_referrals, denominator: referrals, label: "% NFA"}
--   - {name: children, kind: count, label: Children referred}
WITH r AS (
    SELECT child_id, referral_date, bool_and(referral_nfa) AS nfa
    FROM cin_episode
    WHERE in_census_year(referral_date, $census_year)
    GROUP BY child_id, referral_date
),
rt AS (
    SELECT r.child_id, r.referral_date, arg_max(a.team_id, alloc_rank(a.start_date, a.team_id)) AS team
    FROM r JOIN allocation a ON a.child_id = r.child_id AND open_at(a.start_date, a.end_date, r.referral_date)
    GROUP BY r.child_id, r.referral_date
),
base AS (
    SELECT r.child_id, r.nfa,
           child_age_band(c.dob, c.expected_dob, r.referral_date) AS age_band_v,
           sex_label(c.sex) AS sex_v,
           ethnicity_label(c.ethnicity_group) AS ethnicity_v,
           disability_label(c.is_disabled) AS disability_v,
           coalesce(rt.team, 'Unallocated') AS team_v
    FROM r
    LEFT JOIN child c USING (child_id)
    LEFT JOIN rt USING (child_id, referral_date)
)
SELECT CASE WHEN GROUPING(age_band_v) = 1 THEN 'Total' ELSE age_band_v END AS age_band,
       CASE WHEN GROUPING(sex_v) = 1 THEN 'Total' ELSE sex_v END AS sex,
       CASE WHEN GROUPING(ethnicity_v) = 1 THEN 'Total' ELSE ethnicity_v END AS ethnicity_group,
       CASE WHEN GROUPING(disability_v) = 1 THEN 'Total' ELSE disability_v END AS disability,
       CASE WHEN GROUPING(team_v) = 1 THEN 'Total' ELSE team_v END AS team,
       count(*) AS referrals,
       count(*) FILTER (WHERE nfa) AS nfa_referrals,
       round(100.0 * count(*) FILTER (WHERE nfa) / count(*), 1) AS pct_nfa,
       count(DISTINCT child_id) AS children
FROM base
GROUP BY CUBE (age_band_v, sex_v, ethnicity_v, disability_v, team_v)
ORDER BY ALL
